"""Lay articles out as a scanned newspaper page: the test pages for OCR.

`render_page` sets a page's items in columns with a CJK font, as a newspaper prints them: the
lead item's kicker and headline across the page, then every item in column order, each with
its headline (set larger than the body; the lead's largest), kicker, byline, paragraphs with a
two-character indent, subheads, a jump note, photos as grey boxes with their caption. It returns
the image and the text it printed, line by line in reading order: the reference an OCR'd page is
scored against (`qa.evaluation.ocr_quality`). `degrade` makes the scanned copy of a page: a slight
rotation, blur, noise and JPEG compression.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InputError
from qa.types import Article

__all__ = ["PageImage", "cjk_font_path", "degrade", "render_page"]

# Debian's fonts-wqy-microhei (the browser tests install it too); the first that exists is used.
FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)

# A Latin word, a number with its decimals, or one character: the pieces a line is wrapped at.
_PIECE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.%·-]*|\s+|.", re.DOTALL)
_NO_LINE_START = set("，。、；：？！）》」』”’…·%")


def cjk_font_path() -> Path:
    """The first CJK font installed.

    Raises:
        InputError: none is installed (on Debian: apt-get install fonts-wqy-microhei).
    """
    for p in FONT_PATHS:
        if Path(p).is_file():
            return Path(p)
    raise InputError("no CJK font found; install one (Debian: apt-get install fonts-wqy-microhei)")


@dataclass
class PageImage:
    """A rendered page: the image and the text printed on it, one entry per printed line, in reading order."""

    image: object  # PIL.Image.Image
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class _Style:
    body: int = 28  # body type size in pixels
    columns: int = 5
    column_chars: int = 14  # body characters per column line
    margin: int = 90
    gutter: int = 40

    @property
    def column_width(self) -> int:
        return self.body * self.column_chars

    @property
    def width(self) -> int:
        return 2 * self.margin + self.columns * self.column_width + (self.columns - 1) * self.gutter


class _Setter:
    """Sets text into the columns of one page, top to bottom, left to right."""

    def __init__(self, style: _Style, height: int, *, print_like: bool = False) -> None:
        from PIL import Image, ImageDraw

        self.style = style
        self.height = height
        self.image = Image.new("L", (style.width, height), 255)
        self.draw = ImageDraw.Draw(self.image)
        self._font_path = str(cjk_font_path())
        self._fonts: dict[int, object] = {}
        self.lines: list[str] = []
        self.column = 0
        self.print_like = print_like
        self.top = style.margin  # where the columns start (below a banner headline)
        self.y = self.top

    def font(self, size: int):
        from PIL import ImageFont

        if size not in self._fonts:
            self._fonts[size] = ImageFont.truetype(self._font_path, size)
        return self._fonts[size]

    def wrap(self, text: str, size: int, width: int, *, indent: int = 0) -> list[str]:
        """Greedy wrap at pieces (a Latin word or number stays whole); the first line indented by `indent` characters."""
        font = self.font(size)
        lines: list[str] = []
        line = ""
        room = width - indent * size
        for piece in _PIECE.findall(text):
            if line and font.getlength(line + piece) > room:
                carry = ""
                # closing punctuation never starts a line: the character before it goes down with it
                if piece in _NO_LINE_START and len(line) > 1:
                    line, carry = line[:-1], line[-1]
                lines.append(line)
                line, room = carry + piece.lstrip(), width
            else:
                line += piece
        if line.strip():
            lines.append(line)
        return lines

    @property
    def x(self) -> int:
        s = self.style
        return s.margin + self.column * (s.column_width + s.gutter)

    def room(self) -> int:
        return self.height - self.style.margin - self.y

    def next_column(self) -> None:
        self.column += 1
        self.y = self.top
        if self.column >= self.style.columns:
            raise InputError("the items do not fit on one page; render fewer or make the page taller")

    def need(self, pixels: int) -> None:
        """Start the next column unless `pixels` fit in this one."""
        if pixels > self.room():
            self.next_column()

    def block(self, text: str, size: int, *, indent: int = 0, center: bool = False, after: float = 0.6,
              width: int | None = None, x: int | None = None, keep: int = 1) -> None:
        """Set a paragraph; it runs on into the next column where this one is full."""
        width = width or self.style.column_width
        lead = int(size * 1.45)
        lines = self.wrap(text, size, width, indent=indent)
        self.need(lead * min(keep, len(lines)))
        for k, line in enumerate(lines):
            if self.room() < lead:
                self.next_column()
            left = self.x if x is None else x
            if center:
                left += int((width - self.font(size).getlength(line)) / 2)
            elif k == 0:
                left += indent * size
            self.draw.text((left, self.y), line, font=self.font(size), fill=0)
            self.lines.append(line)
            self.y += lead
        self.y += int(size * after)

    def photo(self, height: int) -> None:
        self.need(height + self.style.body * 3)
        s = self.style
        box = (self.x, self.y, self.x + s.column_width, self.y + height)
        if self.print_like:  # a halftone: dots of ink in a grey field, as a printed photo scans
            import numpy as np
            from PIL import Image

            rng = np.random.default_rng(self.y)
            dots = np.where(rng.random((height, s.column_width)) < 0.45, 40, 230).astype(np.uint8)
            self.image.paste(Image.fromarray(dots), box[:2])
        else:
            self.draw.rectangle(box, fill=200)
        self.y += height + s.body // 2

    def rules(self) -> None:
        """A thin vertical rule down the middle of each gutter, under the banner."""
        s = self.style
        for c in range(1, s.columns):
            x = s.margin + c * (s.column_width + s.gutter) - s.gutter // 2
            self.draw.line([(x, self.top), (x, self.height - s.margin)], fill=0, width=2)


def render_page(articles: list[Article], *, columns: int = 5, body_px: int = 28, height: int = 0,
                print_like: bool = False) -> PageImage:
    """Set the items of one page as a newspaper page image (greyscale).

    Args:
        articles: the page's items in reading order (as `qa.editions.parse.parse_page` gives them).
        columns: body columns; the lead item's headline runs across all of them.
        body_px: body type size in pixels (28 px is 10-point type scanned at 200 dpi).
        height: page height in pixels; 0 sizes the page to the text.
        print_like: rules between the columns and photos as halftone dots (else a flat grey box).

    Raises:
        InputError: no items, or they do not fit (with an explicit height).
    """
    if not articles:
        raise InputError("no items to lay out")
    style = _Style(body=body_px, columns=columns)
    if not height:
        chars = sum(len(a.body) + len(a.headline) * 3 + 40 for a in articles)
        lines = chars / style.column_chars * 1.15
        height = int(lines * body_px * 1.45 / columns) + 6 * body_px + 2 * style.margin + 200
    setter = _Setter(style, height, print_like=print_like)
    lead, *rest = articles
    full = style.width - 2 * style.margin
    if lead.headline:
        if lead.kicker:
            setter.block(lead.kicker, int(body_px * 1.4), center=True, width=full, x=style.margin, after=0.3)
        setter.block(lead.headline, int(body_px * 2.3), center=True, width=full, x=style.margin, after=0.8)
        setter.top = setter.y
    _set_item(setter, lead, headline=not lead.headline)
    for item in rest:
        _set_item(setter, item, headline=True)
    if print_like:
        setter.rules()
    return PageImage(setter.image, setter.lines)


def _set_item(setter: _Setter, a: Article, *, headline: bool) -> None:
    b = setter.style.body
    setter.y += b // 2 if setter.y > setter.top else 0
    if a.kind == "photo":
        setter.photo(b * 8)
    if headline and a.headline and a.kind != "photo":
        size = int(b * 1.6)
        if a.kicker:
            setter.block(a.kicker, int(b * 1.15), center=True, after=0.2, keep=3)
        setter.block(a.headline, size, center=True, after=0.5, keep=4)
    if a.byline:
        # the byline on one line where it fits, else a line per role
        whole = "  ".join(a.byline)
        groups = [whole] if len(setter.wrap(whole, b, setter.style.column_width)) == 1 else list(a.byline)
        for k, group in enumerate(groups):
            setter.block(group, b, after=0.4 if k == len(groups) - 1 else 0.0, keep=len(groups) - k + 2)
    if a.kind == "photo":
        # the photo's title above its caption; the caption ends with the photographer's credit
        if a.headline:
            setter.block(a.headline, int(b * 1.15), center=True, after=0.4)
        credit = f" {a.photographer} 摄" if a.photographer else ""
        setter.block(a.body.replace("\n", "") + credit, b, after=0.3)
    subheads = set(a.subheads)
    for para in (p for p in a.body.split("\n") if p.strip() and a.kind != "photo"):
        if para in subheads:
            setter.block(para, int(b * 1.15), center=True, after=0.4, keep=3)
        else:
            setter.block(para, b, indent=2, after=0.15, keep=2)
    if a.continued_to:
        setter.block(f"（下转{a.continued_to}）", b, after=0.4)
    setter.y += b // 2


def degrade(image, *, seed: int = 0, angle: float = 1.5, jpeg_quality: int = 60):
    """A scanned copy of a clean page: rotated by `angle` degrees, blurred, speckled, JPEG-compressed."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    img = image.convert("L").rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(radius=0.8))
    arr = np.asarray(img, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0.0, 12.0, arr.shape)
    arr = np.clip(arr + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=jpeg_quality)
    buf.seek(0)
    return Image.open(buf).convert("L")

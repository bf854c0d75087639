"""The short answer shown in English beside the Chinese span, for a question asked in English.

Only where it is mechanical: numbers with their units and amounts (4公里 -> 4 km, 4.78亿元 ->
478 million yuan, 近10000人 -> nearly 10,000 people), dates (2020年11月14日 -> 14 November 2020);
else, for a short span made of dictionary words, their CC-CEDICT glosses (俄罗斯 -> Russia),
labelled as such. Anything else (a name, a long clause) gets no rendering: the Chinese span and
its cited sentence are the answer.
"""

from __future__ import annotations

import re

__all__ = ["english_rendering", "render_amount", "render_date", "gloss"]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
# unit -> (English unit, multiplier folded into the number); longest first when matched
UNITS: dict[str, tuple[str, float]] = {
    "亿美元": ("US dollars", 1e8), "万美元": ("US dollars", 1e4), "美元": ("US dollars", 1.0),
    "亿元": ("yuan", 1e8), "万元": ("yuan", 1e4), "千元": ("yuan", 1e3), "元": ("yuan", 1.0),
    "万平方米": ("m²", 1e4), "平方公里": ("km²", 1.0), "平方千米": ("km²", 1.0), "平方米": ("m²", 1.0),
    "公里": ("km", 1.0), "千米": ("km", 1.0), "厘米": ("cm", 1.0), "毫米": ("mm", 1.0), "米": ("m", 1.0),
    "公顷": ("hectares", 1.0), "万亩": ("mu", 1e4), "亩": ("mu", 1.0), "万吨": ("tonnes", 1e4),
    "吨": ("tonnes", 1.0), "公斤": ("kg", 1.0), "千克": ("kg", 1.0), "万人次": ("visits", 1e4),
    "人次": ("visits", 1.0), "万人": ("people", 1e4), "人": ("people", 1.0), "万辆": ("vehicles", 1e4),
    "辆": ("vehicles", 1.0), "万台": ("units", 1e4), "台": ("units", 1.0), "岁": ("years old", 1.0),
    "小时": ("hours", 1.0), "分钟": ("minutes", 1.0), "天": ("days", 1.0), "个月": ("months", 1.0),
    "万户": ("households", 1e4), "户": ("households", 1.0), "家": ("companies", 1.0), "%": ("%", 1.0),
    "亿": ("", 1e8), "万": ("", 1e4),
}
QUALIFIERS = {"近": "nearly", "约": "about", "超过": "over", "超": "over", "逾": "over", "达": "",
              "共": "", "共计": "", "累计": "", "仅": "only", "不到": "under", "不足": "under"}
_UNIT = "|".join(map(re.escape, sorted(UNITS, key=len, reverse=True)))
_QUAL = "|".join(map(re.escape, sorted(QUALIFIERS, key=len, reverse=True)))
_AMOUNT = re.compile(rf"^(?P<q>{_QUAL})?(?P<n>\d+(?:\.\d+)?)(?P<more>多|余)?(?P<u>{_UNIT})(?P<after>多|余)?$")
_DATE = re.compile(r"^(?:(?P<y>\d{4})年)?(?:(?P<m>\d{1,2})月)?(?:(?P<d>\d{1,2})[日号])?$")


def _number(value: float) -> str:
    """478000000 -> "478 million", 10000 -> "10,000", 3.32 -> "3.32"."""
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if value >= size:
            scaled = round(value / size, 4)
            return f"{scaled:g} {word}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


def render_amount(span: str) -> str:
    """A number with its unit in English ("4公里" -> "4 km"); "" when `span` is not one."""
    m = _AMOUNT.match(span.replace(" ", "").replace(",", ""))
    if not m:
        return ""
    unit, scale = UNITS[m.group("u")]
    value = float(m.group("n")) * scale
    qualifier = QUALIFIERS.get(m.group("q") or "", "")
    if m.group("more") or m.group("after"):
        qualifier = qualifier or "over"
    text = f"{_number(value)}%" if unit == "%" else " ".join(p for p in (_number(value), unit) if p)
    return f"{qualifier} {text}".strip()


def render_date(span: str) -> str:
    """A Chinese date in English ("2020年11月14日" -> "14 November 2020"); "" when not a date."""
    m = _DATE.match(span.replace(" ", ""))
    if not m or not (m.group("y") or m.group("m")) or (m.group("d") and not m.group("m")):
        return ""
    y, mo, d = m.group("y"), m.group("m"), m.group("d")
    if mo and not 1 <= int(mo) <= 12 or d and not 1 <= int(d) <= 31:
        return ""
    parts = [str(int(d))] if d else []
    parts += [MONTHS[int(mo) - 1]] if mo else []
    parts += [y] if y else []
    return " ".join(parts)


def gloss(span: str, *, max_chars: int = 12) -> str:
    """The span's dictionary words glossed in English ("俄罗斯" -> "Russia"); "" when it is long,
    short but no dictionary word itself, or holds a single-character word or one the dictionary
    lacks (a name is not glossed)."""
    from qa.language.cedict import get_dictionary
    from qa.text import _jieba

    text = span.strip()
    if not text or len(text) > max_chars:
        return ""
    dictionary = get_dictionary()
    if len(text) <= 4 and not dictionary.english(text):
        return ""  # short and not a word of its own: most likely a name (川崎晴朗, not "Kawasaki sunny")
    out: list[str] = []
    for word in _jieba().cut(text, HMM=False):
        if not word.strip() or re.fullmatch(r"[、，,·]", word):
            continue
        if word.isascii():
            out.append(word)
            continue
        first = dictionary.first_meaning(word)
        if len(word) < 2 or not first:
            return ""
        out.append(first)
    return " ".join(out)


def english_rendering(span: str) -> str:
    """What an English asker is shown beside the Chinese short answer: an amount or date in English,
    else a dictionary gloss marked as one; "" when neither is mechanical."""
    text = span.strip()
    done = render_amount(text) or render_date(text)
    if done:
        return done
    glossed = gloss(text)
    return f"{glossed} (dictionary gloss)" if glossed else ""

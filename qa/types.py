"""Core types shared by every stage: frozen dataclasses that round-trip through JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Kind = Literal["article", "photo", "brief"]
KINDS: tuple[str, ...] = ("article", "photo", "brief")

T = TypeVar("T")


def stable_hash(*parts: object, length: int = 10) -> str:
    """Short hex digest of the parts, stable across runs and machines."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:length]


def _tuple(value: Any) -> tuple:
    return tuple(value) if value is not None else ()


@dataclass(frozen=True)
class Article:
    """One item of an edition page: an article, a photo with caption, or a headline-only brief.

    `byline` keeps roles and names as printed ("全媒体记者 王婷"), one entry per role group.
    `body` is the reflowed text; paragraphs are separated by "\\n".
    """

    id: str
    date: str  # ISO date of the edition, "" when unknown
    page: int  # 0 when unknown
    kind: Kind = "article"
    headline: str = ""
    kicker: str = ""
    subheads: tuple[str, ...] = ()
    byline: tuple[str, ...] = ()
    body: str = ""
    continued_to: str = ""  # "第二版" when the article jumps to another page
    continued_from: str = ""  # "第一版" when it continues from another page
    photographer: str = ""
    section: str = ""

    @property
    def title(self) -> str:
        """The printed headline, or a title derived from the lead when none was printed."""
        if self.headline:
            return self.headline
        return derive_title(self.body)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["subheads"] = list(self.subheads)
        d["byline"] = list(self.byline)
        d["title"] = self.title
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Article:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["subheads"] = _tuple(kw.get("subheads"))
        kw["byline"] = _tuple(kw.get("byline"))
        kw["page"] = int(kw.get("page") or 0)
        return cls(**kw)


_LEAD_TIME = re.compile(
    r"^(本报讯|近日|日前|昨日|今日|今天|昨天|[\d\s０-９]+年)?[\d\s]*(月[\d\s]*日?)?(上午|下午|晚上|晚间|凌晨)?$"
)


def derive_title(body: str, limit: int = 32) -> str:
    """A display title from an article's lead: its first clause that is not a dateline.

    "本报讯 11 月 13 日下午，我市召开…会议，…" gives "我市召开…会议".
    """
    lead = body.strip().split("\n", 1)[0]
    if lead.startswith("本报讯"):
        lead = lead[len("本报讯"):]
    first_sentence = re.split(r"[。！？!?；]", lead, maxsplit=1)[0]
    clauses = [c.strip(" 　：:") for c in re.split(r"[，,]", first_sentence)]
    text = next((c for c in clauses if c and not _LEAD_TIME.match(c)), first_sentence.strip())
    return text[:limit] + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences of one article body; `start`/`end` index into `Article.body`."""

    id: int  # int64, stable: derived from the article id and offsets
    article_id: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Passage:
        return cls(int(d["id"]), d["article_id"], int(d["start"]), int(d["end"]), d["text"])


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the dense and lexical scores behind it."""

    passage: Passage
    article: Article
    rank: int
    score: float
    dense: float | None = None  # cosine similarity; None when the dense side did not return it
    lexical: float | None = None  # BM25 score (higher is better); None when not matched

    def to_dict(self) -> dict[str, Any]:
        return {
            "passage": self.passage.to_dict(),
            "article": self.article.to_dict(),
            "rank": self.rank,
            "score": self.score,
            "dense": self.dense,
            "lexical": self.lexical,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hit:
        return cls(
            Passage.from_dict(d["passage"]),
            Article.from_dict(d["article"]),
            int(d["rank"]),
            float(d["score"]),
            d.get("dense"),
            d.get("lexical"),
        )


@dataclass(frozen=True)
class Citation:
    """A cited extract: whole sentences of `article.body[start:end]`, with the answer span marked.

    A headline-only brief has no body: its extract is its headline, with start = end = 0.

    `highlight` is (start, end) within `extract`, or None when no span stands out.
    """

    n: int
    article: Article
    extract: str
    start: int
    end: int
    highlight: tuple[int, int] | None = None
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "article": self.article.to_dict(),
            "extract": self.extract,
            "start": self.start,
            "end": self.end,
            "highlight": list(self.highlight) if self.highlight else None,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Citation:
        hl = d.get("highlight")
        return cls(
            int(d["n"]),
            Article.from_dict(d["article"]),
            d["extract"],
            int(d["start"]),
            int(d["end"]),
            (int(hl[0]), int(hl[1])) if hl else None,
            float(d.get("score", 0.0)),
        )


@dataclass(frozen=True)
class Answer:
    """What `ask` returns. Every word comes from the edition: citations are extracts, the
    short answer is a span of the first extract (or empty). When `no_answer` is true the
    citations are related reading, not an answer."""

    question: str
    resolved_question: str
    short_answer: str = ""
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    no_answer: bool = False
    hits: tuple[Hit, ...] = field(default=(), compare=False)
    # the question as the reader read it, when that differs from resolved_question (an English
    # question over Chinese text is read in its Chinese dictionary terms)
    reading: str = ""
    # the short answer in English where that is mechanical (4公里 -> 4 km) or a dictionary gloss,
    # for a question asked in English; "" otherwise
    english: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question,
            "reading": self.reading,
            "short_answer": self.short_answer,
            "english": self.english,
            "no_answer": self.no_answer,
            "confidence": self.confidence,
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Answer:
        return cls(
            d["question"],
            d.get("resolved_question", d["question"]),
            d.get("short_answer", ""),
            tuple(Citation.from_dict(c) for c in d.get("citations", [])),
            float(d.get("confidence", 0.0)),
            bool(d.get("no_answer", False)),
            tuple(Hit.from_dict(h) for h in d.get("hits", [])),
            str(d.get("reading", "")),
            str(d.get("english", "")),
        )

"""Text for matching: normalization with offsets, sentence spans, lexical terms (jieba)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from typing import Any

__all__ = [
    "TOKENIZER_VERSION",
    "normalize",
    "normalize_with_offsets",
    "squeeze_spaces",
    "compact",
    "split_sentences",
    "tokenize",
    "cjk_bigrams",
    "question_terms",
    "has_han",
    "is_cjk",
]


def is_cjk(ch: str) -> bool:
    """True for Han ideographs, kana, hangul and CJK symbols/punctuation (wide script chars)."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF  # unified ideographs
        or 0x3400 <= o <= 0x4DBF  # extension A
        or 0x20000 <= o <= 0x3134F  # extensions B..G
        or 0xF900 <= o <= 0xFAFF  # compatibility ideographs
        or 0x3000 <= o <= 0x30FF  # CJK punctuation, kana
        or 0x3100 <= o <= 0x31FF  # bopomofo, kana ext
        or 0xAC00 <= o <= 0xD7AF  # hangul syllables
        or 0xFF00 <= o <= 0xFFEF  # full/half-width forms (what NFKC leaves of them)
    )


def _is_han(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x3134F or 0xF900 <= o <= 0xFAFF


def has_han(text: str) -> bool:
    """True when `text` holds a Han ideograph: how the project tells Chinese questions from others."""
    return any(_is_han(ch) for ch in text)


# --------------------------------------------------------------------------- normalization


def _nfkc_lower_with_offsets(text: str) -> tuple[list[str], list[int]]:
    """NFKC + lowercase, char by char (a base char and its combining marks together), with offsets."""
    chars: list[str] = []
    offsets: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        # Keep combining marks with their base so NFKC can compose them ("e" + U+0301 -> "é").
        while j < n and unicodedata.combining(text[j]):
            j += 1
        out = unicodedata.normalize("NFKC", text[i:j]).lower()
        for ch in out:
            chars.append(ch)
            offsets.append(i)
        i = j
    return chars, offsets


def squeeze_spaces(chars: list[str], offsets: list[int]) -> tuple[str, list[int]]:
    """`chars` (with the original index of each) with whitespace runs dropped next to a CJK
    character or at the ends, and cut to one space elsewhere; the joined text and its offsets."""
    out: list[str] = []
    out_offs: list[int] = []
    pending_space = -1  # original index of a whitespace run waiting to be emitted, or -1
    for ch, o in zip(chars, offsets):
        if ch.isspace():
            if pending_space < 0:
                pending_space = o
            continue
        if pending_space >= 0:
            if out and not is_cjk(out[-1]) and not is_cjk(ch):
                out.append(" ")
                out_offs.append(pending_space)
            pending_space = -1
        out.append(ch)
        out_offs.append(o)
    return "".join(out), out_offs


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Matching form of `text` and, for each of its chars, the index of the original char.

    NFKC, Latin lowercased, whitespace runs collapsed to one space, and dropped entirely
    next to a CJK character (OCR puts spaces in "206 亿元", "许 竣 哲"), or at the ends.
    A space between two Latin words or numbers is kept.
    """
    return squeeze_spaces(*_nfkc_lower_with_offsets(text))


def normalize(text: str) -> str:
    """Matching form: NFKC, lowercase Latin, no spaces next to CJK chars, single spaces elsewhere."""
    return normalize_with_offsets(text)[0]


_WS = re.compile(r"\s+")


def compact(text: str) -> str:
    """NFKC with all whitespace removed: the form gold answers are matched in."""
    return _WS.sub("", unicodedata.normalize("NFKC", text))


# --------------------------------------------------------------------------- sentences

_TERMINATORS = set("。！？；…!?;｡")
_CLOSERS = set("”’」』）)】》〉］]\"'〕〗｝}")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "inc", "ltd", "co", "jr", "sr",
    "fig", "e.g", "i.e", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
}


def _is_full_stop(text: str, i: int) -> bool:
    """Whether the "." (or "．") at i ends an English sentence (not a decimal, an initial or "Mr.")."""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt and not (nxt.isspace() or nxt in _CLOSERS or _is_han(nxt)):
        return False  # "4.78", "1.5T", "e.g.x", "www.a.com"
    k = i
    while k > 0 and (text[k - 1].isalpha() or text[k - 1] == "."):
        k -= 1
    word = text[k:i].lower()
    if not word:
        return not (i > 0 and text[i - 1].isdigit() and nxt and nxt.isdigit())
    if len(word) == 1 and word.isascii():
        return False  # an initial: "J. K. Rowling"
    return word.rstrip(".") not in _ABBREVIATIONS


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) into `text`, Chinese and English.

    A sentence ends at 。！？；… ! ? ; (a run of them), an English full stop, or a line break;
    closing quotes and brackets right after the terminator stay with the sentence. Spans
    exclude surrounding whitespace; empty sentences are skipped.
    """
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    i = 0

    def emit(a: int, b: int) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b))

    while i < n:
        ch = text[i]
        if ch == "\n" or ch == "\r" or ch == "\u2029":
            emit(start, i)
            start = i = i + 1
            continue
        if ch in _TERMINATORS or (ch in ".．" and _is_full_stop(text, i)):
            j = i + 1
            while j < n and (text[j] in _TERMINATORS or text[j] in ".．"):
                j += 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            emit(start, j)
            start = i = j
            continue
        i += 1
    emit(start, n)
    return spans


# --------------------------------------------------------------------------- lexical terms

# Bump whenever tokenize() gives other terms for the same text: the lexical index stores
# terms, so an index built with another version would silently stop matching new queries.
TOKENIZER_VERSION = 2

_LOCK = threading.Lock()
_JIEBA: Any = None

# Units that follow numbers in news text; "4.78亿元" is also indexed as one term so a query
# that names the figure with its unit ranks the exact figure first.
_UNITS = sorted(
    """亿元 万元 千元 百万元 亿美元 万美元 美元 元 亿 万 千 百 平方公里 平方米 万平方米 公里 千米 米 厘米
    毫米 公顷 万亩 亩 万吨 吨 千克 公斤 克 万台 台 万辆 辆 万人 人 人次 个 家 项 名 位 岁 年 月 日 号 天
    小时 分钟 秒 次 倍 度 户 套 条 座 所 期 届 批 部 件 种""".split(),
    key=len,
    reverse=True,
)
_NUMBER_UNIT = re.compile(
    r"(?<![0-9.a-z])(\d+(?:\.\d+)?)(" + "|".join(map(re.escape, _UNITS)) + r"|[a-z]+(?![0-9]))"
)
# A term is a run of letters/digits/CJK; a "." survives only inside a decimal number.
_TERM_PART = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")
_ALNUM_SPLIT = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_ASCII_TERM = re.compile(r"\d+(?:\.\d+)+|[a-z0-9]+")


def _jieba() -> Any:
    """The shared jieba tokenizer, built once (quietly: jieba logs its dictionary load)."""
    global _JIEBA
    if _JIEBA is None:
        with _LOCK:
            if _JIEBA is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()  # our own instance: nobody else's add_word changes our terms
                tok.initialize()
                _JIEBA = tok
    return _JIEBA


def _terms_of(token: str) -> list[str]:
    """Clean one jieba token into terms: punctuation dropped, mixed Latin+digits also split."""
    out: list[str] = []
    for part in _TERM_PART.findall(token):
        out.append(part)
        if part.isascii() and part.isalnum() and not part.isalpha() and not part.isdigit():
            pieces = _ALNUM_SPLIT.findall(part)  # "15gw" -> "15", "gw"; "tx5" -> "tx", "5"
            if len(pieces) > 1:
                out.extend(pieces)
    return out


def _jieba_terms(text: str) -> list[str]:
    """Terms of a stretch of text without Latin/digit runs, via jieba search mode."""
    # HMM off: jieba's new-word guessing cuts an unknown name differently in a question and
    # in the text ("许竣哲" vs "许竣|哲说"); single characters match reliably (measured on
    # CMRC dev: passage R@1 0.929 -> 0.935, R@5 0.992 -> 0.996).
    out: list[str] = []
    for token in _jieba().cut_for_search(text, HMM=False):
        if not token.isspace():
            out.extend(_terms_of(token))
    return out


def tokenize(text: str, *, bigrams: bool = False) -> list[str]:
    """Lexical terms of `text` for FTS/BM25, in order, with repeats.

    jieba search mode (no HMM) over `normalize(text)` (Latin lowercased, OCR spaces gone);
    punctuation dropped; decimals kept whole ("4.78"), a number with its unit also kept as
    one term ("4.78亿元"), Latin+digit words kept and split ("15gw", "15", "gw"). With
    `bigrams`, overlapping CJK character pairs are appended: a fallback for segmentation
    mismatches that lowered CMRC R@1 when measured, so the store does not use it.
    """
    norm = normalize(text)
    if not norm:
        return []
    terms: list[str] = []
    pos = 0
    # Latin/digit runs are cut here (jieba without HMM would split "4.78" at the dot); the
    # text between them goes to jieba.
    for m in _ASCII_TERM.finditer(norm):
        if m.start() > pos:
            terms.extend(_jieba_terms(norm[pos:m.start()]))
        terms.extend(_terms_of(m.group()))
        pos = m.end()
    if pos < len(norm):
        terms.extend(_jieba_terms(norm[pos:]))
    seen = set(terms)
    terms.extend(c for m in _NUMBER_UNIT.finditer(norm) if (c := m.group(1) + m.group(2)) not in seen)
    if bigrams:
        terms.extend(cjk_bigrams(norm))
    return terms


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping pairs of Han characters within each run of Han characters of `text`."""
    out: list[str] = []
    run: list[str] = []
    for ch in text + " ":
        if _is_han(ch):
            run.append(ch)
            continue
        if len(run) == 1:
            out.append(run[0])
        out.extend(run[k] + run[k + 1] for k in range(len(run) - 1))
        run = []
    return out


# --------------------------------------------------------------------------- question terms

_WH_WORDS = re.compile(
    r"为什么|为何|什么时候|什么时间|什么地方|什么|多少|多大|多长|多高|多远|多久|哪里|哪儿|哪些|哪个|哪家|哪位|哪天|"
    r"哪年|哪|谁|何时|何处|如何|怎么样|怎样|怎么|几|吗|呢|是否|请问"
)
_EN_STOP = set(
    "the a an of in on at to for by with from and or is are was were be been will would does do did what which "
    "who whom whose when where why how many much long big large far old it its they their them this that these "
    "those there about as has have had can could into than then so such s".split()
)


def question_terms(question: str) -> list[str]:
    """Terms of the question to look for in a text: Han bigrams (single Han chars in isolation),
    numbers and Latin words, without question words."""
    q = _WH_WORDS.sub(" ", normalize(question))
    terms: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[0-9]+(?:\.[0-9]+)?|[a-z]+", q):
        if "\u4e00" <= run[0] <= "\u9fff":
            if len(run) == 1:
                terms.append(run)
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
        elif run not in _EN_STOP:
            terms.append(run)
    seen: set[str] = set()
    return [t for t in terms if not (t in seen or seen.add(t))]

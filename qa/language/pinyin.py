"""Chinese names as English writes them, in pinyin ("Bai Yuefeng", "Sima Yan"), found in Chinese text.

The dictionary knows places and famous people, not the people a paper writes about, so an English
question names them in pinyin, which no Chinese text prints. What the text does print are the
characters, and each character's readings are in CC-CEDICT (its single-character entries, tones
dropped, ü as v): a run of characters whose readings spell the name's syllables in order is the name
as printed. `name_runs` finds the names of a question (capitalized words that read as pinyin, in a
row); `spelled` finds, in a text, the Han strings that spell two or more syllables of one in a row
(白岳峰 for bai yue feng). The re-ranker counts a passage spelling a name as covering it, and the
reader reads the name as the passages print it (`qa.language.translate`). Lexical search asks for
the terms of the index that spell a name (`indexed_names`: 叶乔波 for Ye Qiaobo), or its first
syllables where the segmenter split it (李成 of 李成栋).

A single syllable is not matched (every surname has dozens of characters); Cantonese and Wade-Giles
spellings (Lau Kwok-fan, Wing-tsit Chan) are not pinyin and find nothing.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

__all__ = ["characters", "indexed_names", "name_runs", "readings", "spelled", "syllables"]

_LOCK = threading.Lock()
_READINGS: dict[str, frozenset[str]] | None = None
_BY_SOUND: dict[str, tuple[str, ...]] = {}
_SYLLABLES: frozenset[str] = frozenset()
_HAN = re.compile(r"[\u4e00-\u9fff]+")
MAX_SYLLABLES = 4  # names of up to four characters (司马相如)
PREFIX_TERMS = 2000  # terms read a prefix before `indexed_names` narrows it by a second character


def readings() -> dict[str, frozenset[str]]:
    """Each Han character's toneless pinyin readings, from the installed CC-CEDICT file."""
    global _READINGS, _SYLLABLES
    if _READINGS is None:
        with _LOCK:
            if _READINGS is None:
                from qa.errors import ModelError
                from qa.language.cedict import DATA_PACKAGE, _package_file

                found: dict[str, set[str]] = {}
                path = _package_file()
                try:
                    with gzip.open(path, "rt", encoding="utf-8") as f:
                        for line in f:
                            parts = line.split(" ", 2)
                            if len(parts) < 3 or len(parts[1]) != 1 or line.startswith("#"):
                                continue
                            pinyin = parts[2][1:parts[2].find("]")].lower().replace("u:", "v")
                            syllable = "".join(c for c in pinyin if "a" <= c <= "z")
                            if re.search("[aeiouv]", syllable) and " " not in pinyin:  # not letters (Ａ)
                                found.setdefault(parts[1], set()).add(syllable)
                except (OSError, UnicodeDecodeError, EOFError) as exc:
                    raise ModelError(f"cannot read the dictionary {path} ({exc}); reinstall {DATA_PACKAGE}") from exc
                by_sound: dict[str, list[str]] = {}
                for ch, values in found.items():
                    for sound in values:
                        by_sound.setdefault(sound, []).append(ch)
                _BY_SOUND.update((k, tuple(sorted(v))) for k, v in by_sound.items())
                _SYLLABLES = frozenset(by_sound)
                _READINGS = {ch: frozenset(values) for ch, values in found.items()}
    return _READINGS


@lru_cache(maxsize=4096)
def syllables(word: str) -> tuple[str, ...]:
    """`word` split into pinyin syllables ("Yuefeng" -> yue feng, "Xi'an" -> xi an), the split with
    the fewest syllables; () when it cannot be read as pinyin."""
    readings()
    word = re.sub(r"['’]s$", "", word)  # Zhu Youyuan's
    parts = [p for p in re.split(r"['’-]", word.lower()) if p]
    out: list[str] = []
    for part in parts:
        if not part.isascii() or not part.isalpha():
            return ()
        # best[i]: the fewest syllables spelling part[:i]
        best: list[tuple[str, ...] | None] = [()] + [None] * len(part)
        for end in range(1, len(part) + 1):
            for start in range(max(0, end - 6), end):
                head = best[start]
                if head is not None and part[start:end] in _SYLLABLES:
                    if best[end] is None or len(head) + 1 < len(best[end]):  # type: ignore[arg-type]
                        best[end] = (*head, part[start:end])
        if best[-1] is None:
            return ()
        out.extend(best[-1])
    return tuple(out)


def name_runs(words: Sequence[tuple[str, bool]]) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """The names among a question's `words` ((word as written, whether the dictionary knows it as
    a whole word), in order): capitalized words in a row that read as pinyin, two or more syllables
    in all. A known word counts only when it is one syllable ("Guo", "Lin": the dictionary holds
    them as famous people's names, not as these people), so "China", "Canada" or "June" never
    start a name. Returns each name's syllables and the positions of its words."""
    runs: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
    sounds: list[str] = []
    at: list[int] = []
    for i, (word, known) in enumerate([*words, ("", False)]):
        spelled_as = syllables(word) if word[:1].isupper() and len(word) > 1 else ()
        if spelled_as and not (known and len(spelled_as) > 1):
            sounds.extend(spelled_as)
            at.append(i)
            continue
        if len(sounds) >= 2:
            runs.append((tuple(sounds), tuple(at)))
        sounds, at = [], []
    return runs


def spelled(run: Sequence[str], texts: Iterable[str]) -> list[str]:
    """The Han strings of `texts` that spell the longest stretch of `run` they hold (two or more
    syllables in a row), most syllables first; [] when none does."""
    table = readings()
    sounds = list(run)
    found: dict[str, int] = {}
    for text in texts:
        for m in _HAN.finditer(text):
            han = m.group(0)
            for i in range(len(han)):
                first = table.get(han[i], ())
                for j, sound in enumerate(sounds):
                    if sound not in first:
                        continue
                    n = 1
                    while (n < MAX_SYLLABLES and j + n < len(sounds) and i + n < len(han)
                           and sounds[j + n] in table.get(han[i + n], ())):
                        n += 1
                    if n >= 2:
                        found[han[i:i + n]] = max(found.get(han[i:i + n], 0), n)
    if not found:
        return []
    longest = max(found.values())
    return sorted((h for h, n in found.items() if n == longest), key=lambda h: (-len(h), h))


def characters(sound: str) -> tuple[str, ...]:
    """The Han characters that read `sound` (toneless pinyin, ü as v), in code point order."""
    readings()
    return _BY_SOUND.get(sound, ())


def indexed_names(sounds: Sequence[str], terms_from: Callable[[str, int], Sequence[str]],
                  limit: int = PREFIX_TERMS) -> list[str]:
    """The terms of an index that spell the name `sounds` from its start, two syllables or more,
    each character reading its own: the whole name (叶乔波 for ye qiao bo) and, since the segmenter
    may split a name it does not know (李成 栋), its first syllables; longest first.
    `terms_from(prefix, limit)` lists at most `limit` of the index's terms that start with `prefix`
    (`qa.store.sqlite.Store.terms_from`); it is asked for each character that reads the first
    syllable, and where that fills `limit` (a common surname in a large archive), for each pair
    of characters reading the first two. [] for a name of one syllable."""
    if len(sounds) < 2:
        return []
    table = readings()
    found: list[str] = []
    for first in characters(sounds[0]):
        terms = terms_from(first, limit)
        if len(terms) >= limit:
            terms = [t for second in characters(sounds[1]) for t in terms_from(first + second, limit)]
        for term in terms:
            if 2 <= len(term) <= len(sounds) and all(s in table.get(c, ()) for c, s in zip(term[1:], sounds[1:])):
                found.append(term)
    return sorted(found, key=len, reverse=True)  # stable: the order found within a length

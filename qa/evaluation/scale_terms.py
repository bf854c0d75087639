"""Terms of `bench scale`'s synthetic passages from the terms of the sentences they are made of,
exactly as `qa.store.lexical.segment` gives them, without segmenting a million passages again."""

from __future__ import annotations

from qa.text import _NUMBER_UNIT, normalize

__all__ = ["joined_terms", "main_terms"]


def _compounds(text: str, seen: set[str]) -> list[str]:
    """The number+unit terms `qa.text.tokenize` appends after a text's other terms."""
    return [c for m in _NUMBER_UNIT.finditer(normalize(text)) if (c := m.group(1) + m.group(2)) not in seen]


def main_terms(sentence: str, terms: str) -> list[str]:
    """A sentence's terms without the number+unit ones appended at its end."""
    t = terms.split()
    for k in range(min(len(t), len(_compounds(sentence, set()))), 0, -1):  # the most that fit
        if _compounds(sentence, set(t[:-k])) == t[-k:]:
            return t[:-k]
    return t


def joined_terms(text: str, mains: list[list[str]]) -> str:
    """`segment(text)` of a passage made of whole sentences, from their terms: jieba and the
    Latin/number cuts never cross a sentence end, and the number+unit terms go last (checked
    against `segment` by the tests), so removing a page deletes exactly what was indexed."""
    joined = [t for m in mains for t in m]
    return " ".join(joined + _compounds(text, set(joined)))

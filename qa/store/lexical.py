"""The lexical side of the index: the terms a text is indexed under and a question asks for.

Both go through `qa.text.tokenize` (jieba with the project's settings), so a question and a
passage meet on the same terms whatever store holds them.
"""

from __future__ import annotations

from qa.text import tokenize

__all__ = ["MAX_SCORED_ROWS", "QUESTION_WORDS", "capped_query", "fts_query", "query_terms", "segment"]


def _quote_term(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


# Question words and particles: in an OR query they only add noise, and words like 什么
# are rare in prose, so bm25 would give them a high weight (measured: CMRC R@1 +0.5 pt).
QUESTION_WORDS = frozenset(
    """的 是 了 在 吗 呢 吧 啊 什么 什么样 哪 哪个 哪些 哪里 哪儿 哪一 哪一个 哪位 哪家 哪种 哪年
    多少 几 谁 怎么 怎样 怎么样 如何 为什么 为何 何 何时 何地 是否 请问
    what which who whom whose when where why how is are was were the a an of do does did""".split()
)


def query_terms(question: str) -> list[str]:
    """Distinct lexical terms of a question, question words dropped (kept if nothing else)."""
    terms = [t for t in dict.fromkeys(tokenize(question)) if t.strip()]
    content = [t for t in terms if t not in QUESTION_WORDS]
    return content or terms


def fts_query(question: str) -> str:
    """A safe FTS5 query for `question`: its distinct terms, each quoted, OR-joined.

    Never raises; "" when the question has no terms (search then returns nothing).
    """
    if not isinstance(question, str):
        return ""
    return " OR ".join(_quote_term(t) for t in query_terms(question))


def segment(text: str) -> str:
    """The indexed form of `text`: its lexical terms separated by spaces."""
    return " ".join(tokenize(text))


# FTS5 scores every row an OR query matches (a question with 由, 公司, 3 matched 37% of a 10k
# archive: 84 ms on a busy 2-core machine). Past this many passages the most common terms are
# dropped (rarest kept first) until at most this many rows are scored; smaller stores (the
# sample, CMRC dev) are searched exactly as before.
MAX_SCORED_ROWS = 20_000


def capped_query(terms: list[str], df: dict[str, int], budget: int = MAX_SCORED_ROWS) -> str:
    """An FTS5 query of the rarest `terms` (by document frequency `df`) whose dfs sum to at most
    `budget`; the rarest is always kept, terms absent from `df` (matching nothing) are dropped."""
    kept, total = [], 0
    for term in sorted((t for t in terms if t in df), key=lambda t: df[t]):
        if kept and total + df[term] > budget:
            break
        kept.append(term)
        total += df[term]
    return " OR ".join(_quote_term(t) for t in kept)

"""Follow-up questions: resolve "它的面积呢？" against the conversation.

Rules propose a rewrite with words already in the conversation:
- a pronoun or demonstrative ("它", "他们", "这个项目", "its", "they") is replaced by the topic of
  the previous question (or, after a "who" question, by the person it was answered with);
- "那X呢？" either swaps X into the previous question ("那年龄最小的呢？" after "...年龄最大的多少岁？"),
  or asks the previous question about X ("那马拉松呢？"), or X of the previous topic ("那面积呢？");
- a short question with no subject of its own ("增长了多少？", "哪些市领导参加了？") is prefixed
  with the subject part of the previous question.
A self-contained question is returned unchanged.

Rules alone misread topics ("那有多少人参加？" after a question about the race's new botanical-garden
section asks about the race, not the section), so `candidate_questions` also offers the question
asked of the article the previous answer cited (by its headline); when the rules' rewrite gets
no answer, `qa.answers.ask` reads the others and keeps the one the reader is most sure of.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text import has_han, normalize
from qa.types import Answer

__all__ = ["candidate_questions", "resolve_question", "history_questions", "previous_articles", "HistoryItem"]

HistoryItem = Answer | str

_WH = re.compile(
    r"(是)?(为什么|为何|什么时候|什么时间|什么地方|什么|多少|多大|多长|多高|多远|多久|哪里|哪儿|哪些|哪个|哪家|哪位|"
    r"哪天|哪年|哪条|哪|谁|何时|何处|如何|怎么样|怎样|怎么|几)"
)
_TRAIL = re.compile(r"[？?！!。.\s]+$")
# a question answered by a person or organization, whose answer a pronoun then stands for
_WHO = re.compile(r"谁|哪位|什么人|哪个人|哪些人|\bwho\b|\bwhom\b")
_PRONOUN = re.compile(r"它们|它|他们|她们|他|她|其(?=[\u4e00-\u9fff])(?!中|他|它|余|实|次)")
_DEMONSTRATIVE = re.compile(
    r"(?:这个|那个|这些|那些|这段|那段|这项|那项|这家|那家|这次|那次|这位|那位|该|此)"
    r"([\u4e00-\u9fff]{1,4}?)(?=[总的是有在于将要从被为今明去哪什多几何怎\u3000-\u303f？?，,]|$)"
)
_THEN = re.compile(r"^(?:那么|那|还有|另外|and|what about|how about)\s*(.*?)(?:呢|\?|？)*$", re.I)
_ATTRIBUTES = re.compile(
    r"^(?:规划)?(?:面积|投资|总投资|金额|人数|规模|产值|长度|时间|地点|位置|名额|数量|年龄|门票|价格|距离|目标|作用|原因|"
    r"area|investment|cost|size|length|date|time|location|population|price)$", re.I
)
_GENERIC = set("领导 项目 企业 公司 时间 地点 人 多少 什么 参加 开工 增长 举行 完成 结束 开始 情况 原因 目的 作用".split())
_EN_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her)\b", re.I)
_EN_LEAD = re.compile(
    r"^(?:what|where|when|who|whom|whose|which|why|how(?: \w+)?)\b(?: \w+)?? "
    r"(?:is|are|was|were|did|does|do|has|have|had|will|can)\s+(.*)$", re.I
)


def history_questions(history: Sequence[HistoryItem] | None) -> list[str]:
    """The resolved questions of the history, oldest first (strings are resolved in turn)."""
    out: list[str] = []
    for item in history or ():
        if isinstance(item, Answer):
            out.append(item.resolved_question or item.question)
        else:
            out.append(resolve_question(str(item), out))
    return out


def previous_articles(history: Sequence[HistoryItem] | None) -> list[str]:
    """Article ids cited by the most recent Answer in the history (best first)."""
    for item in reversed(list(history or ())):
        if isinstance(item, Answer):
            return list(dict.fromkeys(c.article.id for c in item.citations))
    return []


def _stem(question: str) -> str:
    """The subject part of a Chinese question: what comes before its question word."""
    q = _TRAIL.sub("", question)
    m = _WH.search(q)
    stem = q[:m.start()] if m else q
    stem = re.sub(r"(?:是|有|在|为|的|了|都|于|将|要|能|会|共|一共|总共|从|被|由|对)+$", "", stem)
    return stem.strip(" ，,")


_TRAILING_ATTRIBUTE = re.compile(
    r"(?:的)?(?:规划面积|面积|总投资|投资额|投资|总值|金额|人数|规模|产值|长度|名额|数量|年龄|价格)$"
)


def _topic(question: str) -> str:
    """The topic of a Chinese question: its stem without a trailing attribute or verb."""
    stem = _TRAILING_ATTRIBUTE.sub("", _stem(question)) or _stem(question)
    if "的" in stem:
        head, _, tail = stem.rpartition("的")
        if len(tail) <= 4 and len(head) >= 2:
            stem = head
    # Trailing verbs ("义乌农商银行组建了" -> "义乌农商银行"); jieba tags them.
    from jieba import posseg

    words = list(posseg.cut(stem))
    while len(words) > 1 and words[-1].flag[:1] in ("v", "u", "p", "d", "c"):
        words.pop()
    topic = "".join(w.word for w in words)
    topic = re.sub(r"(?:是|有|在|为|的|了|都)+$", "", topic)
    return topic or stem


_EN_VERBS = set(
    "open opened start started begin began held hold take took cost costs built build finish finished end ended "
    "invest invested attract attracted launch launched win won located locate come came go went have has had is are "
    "was were be been get got set lead led run ran make made plan planned include includes".split()
)


def _english_topic(question: str) -> str:
    """The subject of an English question: its longest run of capitalized words, with the nouns
    right after it ("the US pavilion"); else the words after "what is"."""
    q = _TRAIL.sub("", question.strip())
    words = q.split()
    best: tuple[int, int] = (0, 0)
    i = 1  # the first word is capitalized anyway
    while i < len(words):
        if words[i][:1].isupper():
            j = i
            while j + 1 < len(words) and (words[j + 1][:1].isupper() or (
                    words[j + 1] in ("of", "and", "for", "de") and j + 2 < len(words) and words[j + 2][:1].isupper())):
                j += 1
            k = j
            while k + 1 < len(words) and k - j < 2 and words[k + 1].isalpha() and words[k + 1].islower() \
                    and words[k + 1] not in _EN_VERBS and words[k + 1] not in ("of", "in", "on", "at", "to", "for", "and"):
                k += 1
            s = i - 1 if i > 0 and words[i - 1].lower() == "the" else i
            if k + 1 - s > best[1] - best[0]:
                best = (s, k + 1)
            i = k + 1
        else:
            i += 1
    if best[1] > best[0]:
        return " ".join(words[best[0]:best[1]])
    m = _EN_LEAD.match(q)
    return (m.group(1) if m else q).strip()


def _has_own_subject(question: str, previous: str) -> bool:
    """Whether a short question names something of its own (not just generic words)."""
    q = _TRAIL.sub("", normalize(question))
    if len(q) > 10:
        return True
    from jieba import posseg

    for w in posseg.cut(_WH.sub("", q)):
        if w.word in _GENERIC or w.word in previous:
            continue
        if w.flag[:2] in ("nr", "ns", "nt", "nz", "en") or w.flag == "eng" or (w.flag.startswith("n") and len(w.word) >= 2):
            return True
    return False


def _resolve_english(question: str, topic: str) -> str:
    if not topic:
        return question
    m = _THEN.match(question.strip())
    if m and m.group(1) and question.lower().startswith(("what about", "how about", "and")):
        rest = _EN_PRONOUN.sub(lambda p: topic + "'s" if p.group(1).lower() in ("its", "their", "his") else topic, m.group(1))
        if rest != m.group(1):
            return f"What about {rest}?"
        return f"What about the {rest} of {topic}?" if _ATTRIBUTES.match(rest) else question
    if _EN_PRONOUN.search(question):
        def swap(p: re.Match[str]) -> str:
            word = p.group(1).lower()
            return topic + "'s" if word in ("its", "their", "his") or (word == "her" and p.end() < len(question)
                                                                        and question[p.end():].strip()[:1].isalpha()) else topic
        return _EN_PRONOUN.sub(swap, question)
    return question


def resolve_question(question: str, history: Sequence[HistoryItem] | None) -> str:
    """`question` made self-contained with the conversation; unchanged when it already is.

    Args:
        question: the new question.
        history: earlier Answers or question strings, oldest first.
    Returns:
        The resolved question (only words from the question and earlier turns).
    """
    q = question.strip()
    items = list(history or ())
    if not q or not items:
        return q
    prev = history_questions(items)[-1]
    last = items[-1]
    person = ""
    if isinstance(last, Answer) and last.short_answer and _WHO.search(normalize(prev)):
        person = last.short_answer  # "他是哪国人？" after "谁担任设计总监？"
    if not has_han(q):
        return _resolve_english(q, person or (_topic(prev) if has_han(prev) else _english_topic(prev)))
    topic = person or (_topic(prev) if has_han(prev) else _english_topic(prev))
    if not topic:
        return q
    if _PRONOUN.search(q):
        return _PRONOUN.sub(lambda m: topic + "的" if m.group(0) == "其" else topic, q, count=1)
    m = _DEMONSTRATIVE.search(q)
    if m:
        stem = _stem(prev) or topic
        if m.group(1) not in stem:
            stem = f"{stem}的{m.group(1)}"  # "这个计划" after "...推出了什么计划？"
        return q[:m.start()] + stem + q[m.end():]
    m = _THEN.match(q)
    if m and m.group(1) and (q.startswith(("那", "还有", "另外")) or q.rstrip("？?").endswith("呢")):
        x = m.group(1)
        if _WH.search(x):  # "那什么时候开工？": a question of its own about the same subject
            return (_TRAILING_ATTRIBUTE.sub("", _stem(prev)) or _stem(prev)) + x + ("？" if q.endswith(("？", "?")) else "")
        for size in range(min(len(x), 6), 1, -1):
            pos = prev.find(x[:size])
            if pos >= 0:  # "那年龄最小的呢？" after "...年龄最大的多少岁？": swap the slot
                return prev[:pos] + x + prev[pos + len(x):]
        if _ATTRIBUTES.match(x):
            return f"{topic}的{x}？"
        return prev.replace(topic, x, 1) if topic in prev else f"{x}{prev[len(_stem(prev)):]}"
    if not _has_own_subject(q, prev):
        return _stem(prev) + q
    return q


_LEAD = re.compile(r"^(?:那么|那|还有|另外|and then|and|so)[\s,，]*", re.I)


def _previous_headline(history: Sequence[HistoryItem]) -> str:
    """The headline of the article the most recent Answer cited first ("" when none)."""
    for item in reversed(list(history)):
        if isinstance(item, Answer):
            return item.citations[0].article.title.strip() if item.citations else ""
    return ""


def candidate_questions(question: str, history: Sequence[HistoryItem] | None, *,
                        headline: str | None = None) -> list[str]:
    """Self-contained readings of `question` in the conversation, the rules' rewrite first
    (`resolve_question`); when the rules changed the question, also the question asked of the
    article the previous answer cited ("2020年义乌国际半程马拉松今日开跑：有多少人参加？").
    `headline` stands for the cited article's when the history holds no Answer. One item when the
    question stands on its own."""
    q = question.strip()
    resolved = resolve_question(q, history)
    if resolved == q:
        return [q]
    out = [resolved]
    rest = _LEAD.sub("", q).strip()
    headline = headline if headline is not None else _previous_headline(history or ())
    if headline and rest and has_han(headline) == has_han(rest):
        rest = re.sub(r"呢(?=[？?]*$)", "", rest)
        if _WH.search(rest) or not has_han(rest):
            joiner = "：" if has_han(rest) else ": "
            out.append(f"{headline}{joiner}{rest}")
    return list(dict.fromkeys(out))

"""English questions over Chinese editions: the question language, and the question in Chinese terms.

Translate-test with a dictionary: an English question becomes a list of terms, each with its
Chinese candidates from CC-CEDICT (`qa.language.cedict`), longest phrase first ("botanical garden"
-> 植物园 before "garden" alone), inflections undone ("businesses" -> business), question words
mapped to their Chinese forms (how many -> 多少). Which candidate is meant is decided by the
edition itself: `reader_question` takes, for each term, the first candidate that the retrieved
passages print, so "area" reads as 面积 in a passage about a town's planned area, not 地方.
Numbers, unknown Latin words (names, "AR", "TOP50") and Chinese words of a code-switched question
stay as written; Chinese text prints them so, except names written in pinyin, which are read as the
passages print them (`qa.language.pinyin`). For the re-ranker, `coverage_terms` makes each English
term one group of its candidates, held by a passage that prints any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from qa.text import has_han

__all__ = ["NameGroup", "Term", "Translation", "coverage_terms", "holds", "lexical_question", "question_language",
           "translate_question", "lemmas", "WH_PHRASES"]

# English question words and their usual Chinese forms, longest first. Chinese asks with them at
# the end of the question ("...有多长？"), and so does `reader_question`.
WH_PHRASES: tuple[tuple[str, str], ...] = (
    ("how many", "多少"), ("how much", "多少"), ("how long", "多长"), ("how big", "多大"),
    ("how large", "多大"), ("how far", "多远"), ("how old", "多大"), ("how high", "多高"),
    ("how tall", "多高"), ("what year", "哪一年"), ("which year", "哪一年"), ("what time", "什么时候"),
    ("what date", "哪一天"), ("when", "什么时候"), ("whom", "谁"), ("whose", "谁的"), ("who", "谁"),
    ("where", "哪里"), ("which", "哪个"), ("why", "为什么"), ("how", "如何"), ("what", "什么"),
)
# Words that carry no content of their own in a question.
STOP_WORDS = frozenset(
    "a an the of in on at to for by with from and or is are was were be been being will would shall "
    "should does do did has have had can could may might must it its they their them this that these "
    "those there about as into than then so such s please tell me us i you your our any some "
    "one 's".split()
)
_TOKEN = re.compile(r"[A-Za-z]+(?:[-'][A-Za-z]+)*|\d+(?:[.,]\d+)*%?|[\u3400-\u4dbf\u4e00-\u9fff]+")
# Two terms of 4 or more letters in a row that the dictionary does not know: not a question.
MAX_PHRASE = 4
# Chinese candidates kept per term, for the passages to choose from. Written English part B
# (chosen on), F1 with the held candidates below: 12 -> 0.467, 16 -> 0.464, 20 -> 0.472, 30 -> 0.470;
# at 20 part A 0.469 -> 0.479, part C 0.415 -> 0.421 (docs/quality.md).
TOP = 20
# of which the lexical search asks for. With the re-ranker counting each English term once however
# many of its candidates a passage prints (`coverage_terms`), end-to-end F1 on the English questions
# as people write them (docs/quality.md "English as people write it"), part B (chosen on): 2 -> 0.344,
# 3 -> 0.345; part A: 2 -> 0.258, 3 -> 0.304. On glossed CMRC dev, first 300, with the earlier
# per-word re-ranker: 5 -> 0.601, 3 -> 0.611, 2 -> 0.622, 1 -> 0.627.
LEXICAL_TOP = 2
# Where the index can say which words it holds (`qa.store.sqlite.Store.terms_from`), lexical search
# asks for the best LEXICAL_HELD candidates of every term among those it holds (a candidate no
# passage prints matches nothing, yet took one of the two places above). Written English part B
# (chosen on), F1 by how many: 2 -> 0.450, 3 -> 0.459, 4 -> 0.462, 5 -> 0.467, 6 -> 0.462,
# 8 -> 0.457, 12 -> 0.452 (docs/quality.md "English as people write it").
LEXICAL_HELD = 5


def question_language(text: str) -> str:
    """"en" for a question in English words, code-switched ones included ("徐晓飞 is what
    occupation?": at least two Latin words and at least one for every three Han characters);
    "zh" otherwise: Chinese with a Latin name or acronym in it ("TOP50葡萄酒大赛在哪里举行？"), and
    noise of symbols and emoji, which goes the Chinese way as it always has."""
    words = len(re.findall(r"[A-Za-z]{2,}", text))
    if not has_han(text):
        return "en" if re.search(r"[A-Za-z]", text) else "zh"
    han = len(re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff]", text))
    return "en" if words >= 2 and 3 * words >= han else "zh"


# Irregular past forms that questions use ("Who won ...?": not the Korean currency).
IRREGULAR = {
    "won": "win", "took": "take", "taken": "take", "held": "hold", "built": "build", "made": "make",
    "gave": "give", "given": "give", "went": "go", "gone": "go", "came": "come", "began": "begin",
    "begun": "begin", "got": "get", "found": "find", "led": "lead", "left": "leave", "met": "meet",
    "paid": "pay", "said": "say", "sold": "sell", "spent": "spend", "told": "tell", "thought": "think",
    "wrote": "write", "written": "write", "chose": "choose", "chosen": "choose", "drew": "draw",
    "grew": "grow", "rose": "rise", "ran": "run", "saw": "see", "seen": "see", "set": "set",
    "brought": "bring", "bought": "buy", "caught": "catch", "fell": "fall", "flew": "fly", "kept": "keep",
    "knew": "know", "lost": "lose", "sent": "send", "stood": "stand", "taught": "teach", "understood":
    "understand", "people": "people", "children": "child", "men": "man", "women": "woman",
}


def lemmas(word: str) -> list[str]:
    """`word` and the forms it may be an inflection of, most likely first ("planned" -> plan)."""
    w = word.lower()
    if w.endswith("'s") and len(w) > 3:  # children's -> children -> child
        return [w] + [x for x in lemmas(w[:-2]) if x != w]
    out = [w]
    if w in IRREGULAR and IRREGULAR[w] != w:
        return [IRREGULAR[w], w]

    def add(x: str) -> None:
        if len(x) >= 2 and x not in out:
            out.append(x)

    if w.endswith("ies"):
        add(w[:-3] + "y")
    if w.endswith("es"):
        add(w[:-2])
    if w.endswith("s") and not w.endswith("ss"):
        add(w[:-1])
    for suffix in ("ed", "ing"):
        if w.endswith(suffix):
            stem = w[:-len(suffix)]
            if len(stem) >= 3 and stem[-1] == stem[-2]:
                add(stem[:-1])  # planned -> plan
            add(stem + "e")  # issued -> issue, taking -> take
            add(stem)
    if w.endswith("ied"):
        add(w[:-3] + "y")
    if w.endswith("ly"):
        add(w[:-2])
    return out


class NameGroup(tuple):
    """A name in pinyin as a coverage group: its English words (as written, normalized) and its
    syllables; a text holds it when it prints the words or characters that spell the syllables."""

    sounds: tuple[str, ...]

    def __new__(cls, english: str, sounds: tuple[str, ...]) -> NameGroup:
        group = super().__new__(cls, (english,))
        group.sounds = tuple(sounds)
        return group


def holds(text: str, group: tuple[str, ...]) -> bool:
    """Whether `text` (normalized) prints any form of a coverage group (`coverage_terms`)."""
    if any(form in text for form in group):
        return True
    if isinstance(group, NameGroup):
        from qa.language.pinyin import spelled

        return bool(spelled(group.sounds, [text]))
    return False


@dataclass(frozen=True)
class Term:
    """One piece of the question: its English words and what they may be in Chinese.

    `kind`: "wh" (a question word: `chinese` holds its one Chinese form), "word" (a dictionary word:
    its candidates, best first) or "literal" (a number or an unknown Latin word, kept as written)."""

    english: str
    chinese: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class Translation:
    """An English question as terms."""

    question: str
    terms: tuple[Term, ...]

    @property
    def known(self) -> int:
        """How many terms the dictionary translated."""
        return sum(t.kind == "word" for t in self.terms)

    def lexical_text(self, held: Callable[[str], bool] | None = None) -> str:
        """What the lexical index is asked: the best LEXICAL_TOP candidates of every term, or,
        given `held` (whether the index holds a word), its best LEXICAL_HELD that it holds; and
        the literals."""
        parts: list[str] = []
        for t in self.terms:
            if t.kind == "word":
                # held candidates are looked up only until LEXICAL_HELD are found
                parts.extend(islice(filter(held, t.chinese), LEXICAL_HELD) if held else t.chinese[:LEXICAL_TOP])
            elif t.kind == "literal":
                parts.append(t.english)
        return " ".join(dict.fromkeys(parts))

    def names(self) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
        """The names written in pinyin (`qa.language.pinyin.name_runs`): syllables and term positions."""
        from qa.language.pinyin import name_runs

        return name_runs([(t.english, t.kind == "word") if t.kind != "wh" else ("", False) for t in self.terms])

    def groups(self) -> list[tuple[str, ...]]:
        """What a passage must print to cover each content term: a dictionary word's Chinese
        candidates and the English word itself (either counts, once), a literal as written; a
        name in pinyin is one `NameGroup`, held by the characters that spell it."""
        out: list[tuple[str, ...]] = []
        names = {at[0]: (sounds, at) for sounds, at in self.names()}
        inside = {i for _, at in names.values() for i in at}
        for i, t in enumerate(self.terms):
            if i in names:
                sounds, at = names[i]
                out.append(NameGroup(" ".join(self.terms[j].english for j in at), sounds))
            elif i in inside:
                continue
            elif t.kind == "word":
                out.append(tuple(dict.fromkeys([*t.chinese, t.english])))
            elif t.kind == "literal":
                out.append((t.english,))
        return out

    def choose(self, texts: Sequence[str] = ()) -> list[str]:
        """Each word term's Chinese form: the best-ranked candidate of two or more characters that
        the `texts` print (绿色 over 绿), else the best printed one, else the best of all."""
        joined = "\n".join(texts)
        out = []
        for t in self.terms:
            if t.kind == "word":
                printed = [c for c in t.chinese if c in joined]
                words = [c for c in printed if len(c) > 1]
                out.append((words or printed or list(t.chinese))[0])
        return out

    def reader_question(self, texts: Sequence[str] = ()) -> str:
        """The question as the reader reads it: the content terms in order (Chinese where the
        dictionary knows them, choosing by `texts`), the question word last, then the question as
        asked (the reader is multilingual: on glossed CMRC dev, first 300, both read together
        found the answer's sentence first 0.860 of the time against 0.828 for the terms alone)."""
        from qa.language.pinyin import spelled

        chosen = iter(self.choose(texts))
        printed = {}
        for sounds, at in self.names():
            found = spelled(sounds, texts)
            if found:  # the name as the passages print it stands for its words
                printed.update({j: "" for j in at[1:]} | {at[0]: found[0]})
            else:  # as written: "Xu" is a name here, not the dictionary's famous Xu
                printed.update({j: self.terms[j].english for j in at})
        body: list[str] = []
        wh: list[str] = []
        for i, t in enumerate(self.terms):
            word = next(chosen) if t.kind == "word" else ""
            if i in printed:
                if printed[i]:
                    body.append(printed[i])
            elif t.kind == "wh":
                wh.append(t.chinese[0])
            elif t.kind == "word":
                body.append(word)
            else:
                body.append(t.english)
        text = ""
        for piece in body + wh[:1]:  # Latin pieces keep a space from their neighbours
            if text and (piece[:1].isascii() and piece[:1].isalpha() or text[-1:].isascii() and text[-1:].isalpha()):
                text += " "
            text += piece
        return f"{text}？ {self.question}"


def _match(words: list[str], at: int, dictionary: object) -> tuple[int, tuple[str, ...]] | None:
    """The longest dictionary phrase starting at `at`; any of its words may be inflected
    ("taking part" -> take part), a two-word phrase may be hyphenated ("half-marathon")."""
    from itertools import product

    for n in range(min(MAX_PHRASE, len(words) - at), 0, -1):
        phrase = words[at:at + n]
        if n == 1 and phrase[0] in STOP_WORDS:
            return None
        if n > 1 and (phrase[0] in STOP_WORDS or phrase[-1] in STOP_WORDS):
            continue
        if n == 1:
            merged = _forms_candidates(lemmas(phrase[0])[:3], dictionary)
            if merged:
                return 1, merged
            continue
        for forms in product(*(lemmas(w)[:3] for w in phrase)):
            keys = [" ".join(forms)] + (["-".join(forms)] if n == 2 else [])
            for key in keys:
                found = dictionary.chinese(key, top=TOP)  # type: ignore[attr-defined]
                if found:
                    return n, tuple(found)
    return None


def _forms_candidates(forms: Sequence[str], dictionary: object) -> tuple[str, ...]:
    """The candidates of every form of one word, taken in turn (the word as written first), up
    to TOP: "funding" is 招商 as written and 基金, 出资 as "fund"; "quarters" 营房 and 季度. On the
    written English dev questions, part B (chosen on), F1 0.370 -> 0.381 against the first form
    the dictionary knows alone; part A 0.271 -> 0.282 (docs/quality.md)."""
    lists = [dictionary.chinese(f, top=TOP) for f in forms]  # type: ignore[attr-defined]
    out: list[str] = []
    for i in range(TOP):
        out += [found[i] for found in lists if i < len(found) and found[i] not in out]
    return tuple(out[:TOP])


@lru_cache(maxsize=512)
def translate_question(question: str) -> Translation:
    """`question` (English) as terms: question words, dictionary words and literals, in order."""
    from qa.language.cedict import get_dictionary

    dictionary = get_dictionary()
    tokens = _TOKEN.findall(question)
    words = [t.lower() for t in tokens]
    terms: list[Term] = []
    i = 0
    while i < len(words):
        wh = next(((n, zh) for phrase, zh in WH_PHRASES
                   if words[i:i + (n := len(phrase.split()))] == phrase.split()), None)
        if wh is not None:
            terms.append(Term(" ".join(tokens[i:i + wh[0]]), (wh[1],), "wh"))
            i += wh[0]
            continue
        if words[i][0].isdigit() or has_han(words[i]):  # a number, or Chinese kept as asked
            terms.append(Term(tokens[i].replace(",", ""), (), "literal"))
            i += 1
            continue
        found = None
        if tokens[i].isupper() and len(tokens[i]) >= 2:  # an abbreviation: "US", "EU"
            letters = dictionary.acronym(tokens[i], top=TOP)
            found = (1, tuple(letters)) if letters else None
        found = found or _match(words, i, dictionary)
        if found is not None:
            n, chinese = found
            terms.append(Term(" ".join(tokens[i:i + n]), chinese, "word"))
            i += n
            continue
        if words[i] not in STOP_WORDS and (tokens[i][:1].isupper() or len(words[i]) <= 4):
            terms.append(Term(tokens[i], (), "literal"))  # a name or an acronym, as printed
        i += 1
    return Translation(question, tuple(terms))


def lexical_question(question: str, terms_from: Callable[[str, int], Sequence[str]] | None = None) -> str:
    """What the lexical side of retrieval and the re-ranker look for: the question, and for an
    English one also its Chinese dictionary terms, so that it matches Chinese text as well as English.

    `terms_from(prefix, limit)` lists the index's terms that start with `prefix`
    (`qa.store.sqlite.Store.terms_from`; None where the index cannot list them, as on Milvus). With
    it, each English term asks for the best of its candidates that the index holds
    (LEXICAL_HELD), and the question's names in pinyin for the index's terms that spell them
    (`qa.language.pinyin.indexed_names`). On the written English CMRC dev questions, part B
    (chosen on), F1 0.435 -> 0.452 with the names, 0.467 with the held candidates too
    (docs/quality.md)."""
    if question_language(question) != "en":
        return question
    translation = translate_question(question)
    if terms_from is None:
        chinese = translation.lexical_text()
    else:
        from qa.language.pinyin import indexed_names

        parts = [translation.lexical_text(_holds_all(terms_from))]
        for sounds, _ in translation.names():
            parts.extend(indexed_names(sounds, terms_from))
        chinese = " ".join(dict.fromkeys(p for p in parts if p))
    return f"{question} {chinese}" if chinese else question


def _holds_all(terms_from: Callable[[str, int], Sequence[str]]) -> Callable[[str], bool]:
    """Whether the index holds every lexical term of a word (segmented as the question's terms
    are); each term is looked up once."""
    from qa.text import tokenize

    seen: dict[str, bool] = {}

    def has(term: str) -> bool:
        if term not in seen:
            seen[term] = list(terms_from(term, 1)[:1]) == [term]
        return seen[term]

    def held(word: str) -> bool:
        terms = [t.lower() for t in dict.fromkeys(tokenize(word)) if t.strip()]
        return bool(terms) and all(has(t) for t in terms)

    return held


def coverage_terms(question: str) -> list[tuple[str, ...]]:
    """The question's terms for measuring how much of it a passage covers, each a group of
    alternatives (normalized) of which any one counts: for a Chinese question each of its
    `qa.text.question_terms` alone; for an English one each content term with its dictionary
    candidates, so that a passage printing 面积 and 地区 for "area" covers one term, not two."""
    from qa.text import normalize, question_terms

    if question_language(question) != "en":
        return [(t,) for t in question_terms(question)]
    groups: list[tuple[str, ...]] = []
    for group in translate_question(question).groups():
        if isinstance(group, NameGroup):
            groups.append(NameGroup(normalize(group[0]).strip(), group.sounds))
            continue
        forms = tuple(dict.fromkeys(f for f in (normalize(g).strip() for g in group) if f))
        if forms and forms not in groups:
            groups.append(forms)
    return groups


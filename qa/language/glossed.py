"""English and code-switched questions made from Chinese ones, for measuring and calibrating.

No English QA data can be had offline, so questions are made the CoSDA-ML way: the jieba words of
a Chinese question replaced by their CC-CEDICT glosses (the first sense's first meaning), from a
share of the words up to all of them; question words become English question words (多少 -> how
many). Words the dictionary lacks (most names) stay Chinese, as an English speaker quoting a
name would. `edition-qa bench gloss` writes such a copy of a SQuAD-format file (CMRC 2018 dev),
which `bench squad`, `bench reader` and `bench calibrate --lang en` then read.

Glossed questions are made by the same dictionary that reads them back, so they are easier than
English as people write it. `written_squad` makes the other kind of copy: the questions of
qa/data/questions/english-cmrc-dev.jsonl, 504 CMRC 2018 dev questions written in English by the
project, names as an English reader knows them (Samurai Warriors 3, Howard Webb, Wu Shaoyang);
every paragraph stays, so retrieval searches the whole file. Part "A" (101, every 32nd question)
is where English retrieval methods were compared first; part "B" (202, every 32nd from the 8th and
from the 16th) was written later to fit and choose on, with "A" as the check; part "C" (201, every
32nd from the 4th and from the 24th) was written last, a second check that nothing was chosen on.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.paths import bundled_question_file

WRITTEN = bundled_question_file("english-cmrc-dev.jsonl")

__all__ = ["WRITTEN", "english_order", "gloss_question", "gloss_squad", "word_gloss", "written_squad"]

# Chinese question words -> English (longest first); the rest of WH_PHRASES read the other way.
_WH_ENGLISH = {
    "什么时候": "when", "什么时间": "when", "什么地方": "where", "为什么": "why", "为何": "why",
    "多少": "how many", "多大": "how big", "多长": "how long", "多高": "how high", "多远": "how far",
    "多久": "how long", "哪里": "where", "哪儿": "where", "哪些": "which", "哪个": "which", "哪一年": "which year",
    "哪年": "which year", "哪位": "who", "哪": "which", "谁": "who", "何时": "when", "如何": "how",
    "怎么样": "how", "怎样": "how", "怎么": "how", "什么": "what", "几": "how many", "是": "is",
    "的": "of", "了": "", "吗": "", "呢": "",
}


def word_gloss(word: str) -> str:
    """The English of one Chinese word: its first sense's first meaning, without notes ("" if none)."""
    from qa.language.cedict import get_dictionary

    first = re.sub(r"\b(?:sth|sb|one's)\b", " ", get_dictionary().first_meaning(word))
    return " ".join(re.sub(r"^to ", "", first.strip()).split())


# English question words as glossing writes them, longest first (for `english_order`)
_WH_FRONT = ("which year", "what time", "how many", "how big", "how long", "how high", "how far", "when", "where", "which",
             "why", "who", "how", "what")


def english_order(glossed: str) -> str:
    """A glossed question with its question word moved to the front, as English asks ("Xu Xiaofei
    of occupation is what?" -> "what is Xu Xiaofei of occupation?"); a copula just before it moves
    with it. The question as it is when it has no English question word or starts with one."""
    body = glossed.rstrip("?？").strip()
    for wh in _WH_FRONT:
        m = re.search(rf"(?:(?<=\s)|^)(?:is\s+)?{wh}(?=\s|$)", body)
        if m is None:
            continue
        if m.start() == 0:
            return glossed
        moved = m.group(0).split()
        front = " ".join(moved[-len(wh.split()):] + moved[:-len(wh.split())])
        rest = " ".join((body[:m.start()] + " " + body[m.end():]).split())
        return f"{front} {rest}?"
    return glossed


def gloss_question(question: str, *, share: float = 1.0, rng: random.Random | None = None) -> str:
    """`question` with `share` of its words (1.0: every one the dictionary knows) in English."""
    from qa.text import _jieba

    rng = rng or random.Random(0)
    words = [w for w in _jieba().cut(question.strip().rstrip("？?"), HMM=False) if w.strip()]
    # a single character outside the question words is most often part of a name (徐晓飞 is not
    # "slowly dawn fly"): it stays Chinese
    glossable = [i for i, w in enumerate(words) if w in _WH_ENGLISH or (len(w) > 1 and word_gloss(w))]
    chosen = set(glossable if share >= 1.0 else rng.sample(glossable, max(1, round(share * len(glossable))))
                 if glossable else [])
    out: list[str] = []
    for i, w in enumerate(words):
        english = (_WH_ENGLISH.get(w) if w in _WH_ENGLISH else word_gloss(w)) if i in chosen else None
        if english is None:
            out.append(w)
        elif english:
            out.append(english)
    text = ""
    for piece in out:  # English words apart, Chinese runs together
        if text and (piece[:1].isascii() or text[-1:].isascii()):
            text += " "
        text += piece
    return text.strip() + "?"


def _read_squad_json(path: str | os.PathLike) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path} as a SQuAD-format JSON file ({exc})") from exc


def _write_atomically(out: str | os.PathLike, data: dict[str, Any]) -> Path:
    target = Path(out)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, target)
    return target


def gloss_squad(path: str | os.PathLike, out: str | os.PathLike, *, share: float | tuple[float, ...] = 1.0,
                seed: int = 0, reading: float = 0.0, fronted: float = 0.0) -> dict[str, Any]:
    """Write a copy of a SQuAD-format file with every question glossed (`gloss_question`), each
    with `share` of its words or, given several shares, one drawn at random per question;
    returns counts: questions, wholly English (no Han character left), and the shares. With
    `reading`, that share of the English questions is written as `ask` has the reader read it over
    its paragraph (`Translation.reader_question`: dictionary terms, then the question), for training.
    With `fronted`, that share of the English questions asks in English order (`english_order`),
    before any reading form is made of it."""
    from qa.language.translate import question_language, translate_question
    from qa.text import has_han

    shares = tuple(share) if isinstance(share, tuple) else (share,)
    if not shares or not all(0.0 < s <= 1.0 for s in shares):
        raise InputError(f"--share must be in (0, 1], got {','.join(map(str, shares))}")
    data = _read_squad_json(path)
    rng = random.Random(seed)
    questions = english = read = moved = 0
    for doc in data.get("data", []):
        for para in doc.get("paragraphs", []):
            for q in para.get("qas", []):
                q["question"] = gloss_question(q["question"], share=rng.choice(shares), rng=rng)
                if fronted and rng.random() < fronted and question_language(q["question"]) == "en":
                    turned = english_order(q["question"])
                    moved += turned != q["question"]
                    q["question"] = turned
                if reading and rng.random() < reading and question_language(q["question"]) == "en":
                    q["question"] = translate_question(q["question"]).reader_question([para.get("context", "")])
                    read += 1
                questions += 1
                english += not has_han(q["question"])
    data["glossed"] = {"from": Path(path).name, "share": list(shares), "seed": seed, "reading": reading,
                       "fronted": fronted,
                       "dictionary": "CC-CEDICT (CC BY-SA 4.0)"}
    target = _write_atomically(out, data)
    return {"questions": questions, "wholly_english": english, "share": list(shares), "read_form": read,
            "fronted": moved,
            "out": str(target)}


def written_squad(path: str | os.PathLike, out: str | os.PathLike,
                  written: str | os.PathLike = WRITTEN, part: str | None = None,
                  glossed_every: int = 0) -> dict[str, Any]:
    """Write a copy of a SQuAD-format file that asks only the questions `written` (JSON lines of
    {"id", "question", "part"}) holds, in its words, only those of `part` when given; every
    paragraph is kept. With `glossed_every` N, every Nth question of the file's second half (by
    position) that is not written is asked too, glossed (`gloss_question`): English as written and
    as glossed together, which the English no-answer gate is fitted on. InputError when an id of
    `written` is not in the file, or no row is of `part`."""
    try:
        rows = [json.loads(line) for line in Path(written).read_text(encoding="utf-8").splitlines() if line.strip()]
        asked = {str(r["id"]): str(r["question"]) for r in rows if part is None or r.get("part") == part}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read {written} as JSON lines of {{\"id\", \"question\"}} ({exc})") from exc
    if not asked:
        raise InputError(f"no question of {written} is of part {part!r}")
    data = _read_squad_json(path)
    paras = [para for doc in data.get("data", []) for para in doc.get("paragraphs", [])]
    total = sum(len(para.get("qas", [])) for para in paras)
    found: set[str] = set()
    n = glossed = 0
    for para in paras:
        kept = []
        for q in para.get("qas", []):
            if q.get("id") in asked:
                kept.append(dict(q, question=asked[q["id"]]))
                found.add(q["id"])
            elif glossed_every > 0 and 2 * n >= total and n % glossed_every == 0:
                kept.append(dict(q, question=gloss_question(q["question"])))
                glossed += 1
            n += 1
        para["qas"] = kept
    missing = sorted(set(asked) - found)
    if missing:
        raise InputError(f"{len(missing)} question ids of {written} are not in {path} (first: {missing[0]})")
    data["written"] = {"from": Path(path).name, "questions": Path(written).name, "part": part,
                       "glossed_every": glossed_every}
    target = _write_atomically(out, data)
    return {"questions": len(found), "glossed": glossed, "out": str(target)}

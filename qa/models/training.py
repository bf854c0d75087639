"""Training the reader: SQuAD-format data -> passages with and without the answer -> span head.

Examples are made the way the reader is used: each paragraph is cut into the index's passages
(`qa.editions.chunk`, 250 chars); a question is paired with the passage holding its answer (target: the
answer's tokens) and with passages that do not (target: `<s>`, "not in this passage"): one of
its own paragraph's other passages (the hard case: same topic, no answer) and, for some, a
passage of another article or a question of noise.

The lower `first_trained` blocks stay e5's own, so their output for every example is computed
once and cached (float16, on disk); each step then runs only the upper blocks forward and back.
On the 2-core development machine this makes an epoch about 3x cheaper than full fine-tuning.
Checkpoints (safetensors and JSON, no pickle) are written every few minutes; a run resumes
from the last one and stops by itself when its time budget (all runs together) is spent.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputError, ModelError
from qa.models.encoder import (
    base_sha256,
    load_base,
    new_encoder,
    pad_batch,
    trained_names,
)
from qa.models.examples import TrainSettings, featurize, load_squad, make_examples
from qa.models.reader import Tokens
from qa.models.weights import CONFIG_FILE, WEIGHTS_FILE, pack_weights, write_reader

__all__ = ["TrainSettings", "load_squad", "make_examples", "train_reader"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the cache


class LowerCache:
    """The frozen blocks' output of every example: one float16 row per token, on disk."""

    def __init__(self, folder: Path, ids: list[list[int]], hidden: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(r) for r in ids], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.lengths = lengths
        total = int(lengths.sum())
        path = folder / "lower.f16"
        mode = "r+" if path.exists() and path.stat().st_size == total * hidden * 2 else "w+"
        self.rows = np.memmap(path, dtype=np.float16, mode=mode, shape=(total, hidden))
        self._done_path = folder / "done.json"
        self.done = json.loads(self._done_path.read_text())["done"] if mode == "r+" and self._done_path.exists() else 0

    def fill(self, encoder: Any, ids: list[list[int]], upto: int, *, bf16: bool, progress: bool) -> None:
        """Compute the rows not cached yet (resumable: progress is saved every few batches)."""
        import torch
        from tqdm.auto import tqdm

        batch = 32
        with torch.inference_mode(), tqdm(total=len(ids), initial=self.done, desc="caching lower blocks",
                                          unit="ex", disable=not progress) as bar:
            while self.done < len(ids):
                rows = list(range(self.done, min(self.done + batch, len(ids))))
                tok, mask, _ = pad_batch([ids[r] for r in rows], [1] * len(rows))
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    hidden = encoder.lower(tok, mask, upto).float().numpy()
                for k, r in enumerate(rows):
                    s, n = self.starts[r], self.lengths[r]
                    self.rows[s:s + n] = hidden[k, :n]
                self.done = rows[-1] + 1
                bar.update(len(rows))
                if self.done % (batch * 20) == 0 or self.done == len(ids):
                    self.rows.flush()
                    _write_json(self._done_path, {"done": self.done})

    def batch(self, rows: list[int]) -> Any:
        import torch

        width = int(max(self.lengths[r] for r in rows))
        out = np.zeros((len(rows), width, self.rows.shape[1]), dtype=np.float32)
        for k, r in enumerate(rows):
            s, n = self.starts[r], self.lengths[r]
            out[k, :n] = self.rows[s:s + n]
        return torch.from_numpy(out)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _batches(lengths: np.ndarray, batch_size: int, seed: int) -> list[list[int]]:
    """One epoch's batches: shuffled, similar lengths together (less padding), in random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    out = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=lambda r: lengths[r])
        out += [list(map(int, part[i:i + batch_size])) for i in range(0, len(part), batch_size)]
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


# ----------------------------------------------------------------------------- training


def _save_checkpoint(folder: Path, encoder: Any, names: list[str], opt: Any, state: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    params = dict(encoder.named_parameters())
    save_file({n: params[n].detach().contiguous() for n in names}, str(folder / "weights.tmp"))
    moments = {}
    for i, n in enumerate(names):
        st = opt.state.get(params[n], {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in st:
                moments[f"{n}.{key}"] = st[key].contiguous()
    save_file(moments, str(folder / "optim.tmp"))
    os.replace(folder / "weights.tmp", folder / "weights.safetensors")
    os.replace(folder / "optim.tmp", folder / "optim.safetensors")
    _write_json(folder / "state.json", state)


def _load_checkpoint(folder: Path, encoder: Any, names: list[str], opt: Any) -> dict | None:
    import torch
    from safetensors.torch import load_file

    if not (folder / "state.json").is_file():
        return None
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    weights = load_file(str(folder / "weights.safetensors"))
    moments = load_file(str(folder / "optim.safetensors"))
    params = dict(encoder.named_parameters())
    with torch.no_grad():
        for n in names:
            params[n].copy_(weights[n])
            if f"{n}.exp_avg" in moments:
                opt.state[params[n]] = {"step": torch.tensor(float(state["step"])),
                                        "exp_avg": moments[f"{n}.exp_avg"], "exp_avg_sq": moments[f"{n}.exp_avg_sq"]}
    return state


def _init_weights(spec: str | os.PathLike, encoder: Any, names: list[str], first_trained: int) -> dict:
    """Copy a trained reader's weights (a first run, continued by this one) into `encoder`: a run's folder, or one member of a combined reader ("DIR@2",
    its weights in fp16 as a run's own folder holds them); returns what the continued run
    records of it, the runs it continued in turn included."""
    import torch

    from qa.models.weights import STORAGE, reader_runs, reader_spec, unpack_weights

    folder, picked = reader_spec(spec)
    runs = reader_runs(spec)
    if len(runs) > 1 or (picked is None and runs[0][2] != STORAGE[16]):
        raise InputError(f"--init {folder}: it combines {len(runs) if len(runs) > 1 else 'several'} runs; "
                         f"continue one of the runs it was made from, or one member (--init {folder}@N)")
    config, stored, _, digest = runs[0]
    if int(config.get("first_trained", -1)) != first_trained:
        raise InputError(f"--init {spec}: it trained blocks from {config.get('first_trained')}, "
                         f"this run trains from {first_trained}")
    weights = unpack_weights(stored)
    if set(weights) != set(names):
        raise InputError(f"--init {spec}: its weights do not fit this encoder")
    params = dict(encoder.named_parameters())
    with torch.no_grad():
        for n in names:
            params[n].copy_(weights[n].half().float())
    before = config.get("train_time_s_in_all") or config.get("train_time_s")
    return {"sha256": digest, **({"member": picked[0]} if picked else {}),
            "train_time_s": config.get("train_time_s"), "steps": config.get("steps"),
            "settings": config.get("settings"), "train_files": config.get("train_files"),
            **({"continues": config["continues"]} if config.get("continues") else {}),
            "train_time_s_in_all": before}


def train_reader(train: list[str | os.PathLike], out: str | os.PathLike, *, settings: TrainSettings = TrainSettings(),
                 budget_s: float = 4 * 3600, work: str | os.PathLike | None = None, limit: int | None = None,
                 precision: str = "auto", checkpoint_s: float = 300, progress: bool = True,
                 init: str | os.PathLike | None = None) -> dict:
    """Train the reader on SQuAD-format files and write reader.json + reader.safetensors to `out`.

    Resumes from `work` (default `out/work`) when a run with the same settings stopped there.
    `init`: a trained reader's folder to start from instead of e5's own upper blocks, or "DIR@N"
    for member N of a combined reader (a second run that continues a first; the summary records
    it and its training time, that of the runs it continued included).
    Returns the training summary (also written to reader.json): steps, loss, time, precision.
    """
    import torch
    from tqdm.auto import tqdm

    from qa.models.e5pack import materialize_e5
    from qa.models.embed import bf16_supported

    out, t_start = Path(out), time.time()
    work = Path(work) if work is not None else out / "work"
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    items = [it for path in train for it in load_squad(path)]
    if limit:
        items = items[:limit]
    if not items:
        raise InputError("no training questions with answers in " + ", ".join(map(str, train)))
    base = materialize_e5()
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    if not 0 <= settings.first_trained < config["num_hidden_layers"]:
        raise ModelError(f"first_trained must be in 0..{config['num_hidden_layers'] - 1}")
    tokens = Tokens(base)
    examples = make_examples(items, settings)
    ids, firsts, targets = featurize(examples, tokens, settings.max_tokens)
    key = {"settings": settings.__dict__, "train": [Path(p).name for p in train], "limit": limit,
           "examples": len(ids), "tokens": int(sum(map(len, ids)))}
    if init is not None:
        import hashlib

        from qa.models.weights import reader_spec

        init_folder, picked = reader_spec(init)
        weights = init_folder / WEIGHTS_FILE
        key["init"] = (hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else str(init)) + \
            (f"@{','.join(map(str, picked))}" if picked else "")
    if (work / "key.json").is_file() and json.loads((work / "key.json").read_text()) != key:
        raise InputError(f"{work} holds a run with other data or settings: pass another --work or delete it")
    work.mkdir(parents=True, exist_ok=True)
    _write_json(work / "key.json", key)
    bf16 = precision == "bf16" or (precision == "auto" and bf16_supported())
    encoder = new_encoder({**config, "hidden_dropout_prob": settings.dropout})
    load_base(encoder, base)
    cache = LowerCache(work / "cache", ids, config["hidden_size"])
    encoder.eval()
    cache.fill(encoder, ids, settings.first_trained, bf16=bf16, progress=progress)

    names = trained_names(encoder, settings.first_trained)
    started_from = (_init_weights(init, encoder, names, settings.first_trained)
                    if init is not None else None)
    params = dict(encoder.named_parameters())
    for n, p in params.items():
        p.requires_grad = n in names
    decay = [params[n] for n in names if n.endswith("weight") and ".ln" not in n]
    no_decay = [params[n] for n in names if not (n.endswith("weight") and ".ln" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    per_epoch = math.ceil(len(ids) / settings.batch_size)
    total = max(int(per_epoch * settings.epochs), 1)
    warm = max(int(total * settings.warmup), 1)

    def lr_at(step: int) -> float:
        return settings.lr * (step / warm if step < warm else max(0.0, (total - step) / max(total - warm, 1)))

    state = _load_checkpoint(work / "checkpoint", encoder, names, opt) or {
        "step": 0, "elapsed_s": 0.0, "losses": [], "precision": "bf16" if bf16 else "fp32"}
    state["elapsed_s"] += time.time() - t_start  # data preparation and caching count too
    lengths = np.array([len(r) for r in ids])
    tgt = torch.tensor(targets)
    encoder.train()
    t_run, t_ckpt, seen_tokens = time.time(), time.time(), 0
    log_path = work / "train.log"
    bar = tqdm(total=total, initial=state["step"], desc="training reader", unit="step", disable=not progress)
    stopped = False
    with open(log_path, "a", encoding="utf-8") as logf:
        while state["step"] < total:
            epoch, offset = divmod(state["step"], per_epoch)
            batches = _batches(lengths, settings.batch_size, settings.seed + epoch)
            for rows in batches[offset:]:
                if state["step"] >= total:
                    break
                hidden = cache.batch(rows)
                _, mask, cand = pad_batch([ids[r] for r in rows], [firsts[r] for r in rows])
                for g in opt.param_groups:
                    g["lr"] = lr_at(state["step"])
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    start, end = encoder.upper(hidden, mask, settings.first_trained, cand)
                t = tgt[rows]
                loss = (torch.nn.functional.cross_entropy(start, t[:, 0])
                        + torch.nn.functional.cross_entropy(end, t[:, 1])) / 2
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([params[n] for n in names], 1.0)
                opt.step()
                state["step"] += 1
                seen_tokens += int(mask.sum())
                state["losses"].append(round(float(loss.detach()), 4))
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(state['losses'][-50:]):.3f}")
                if state["step"] % 50 == 0:
                    rate = seen_tokens / max(time.time() - t_run, 1e-9)
                    logf.write(json.dumps({"step": state["step"], "loss": float(np.mean(state["losses"][-50:])),
                                           "lr": lr_at(state["step"]), "tokens_per_s": round(rate),
                                           "elapsed_s": round(state["elapsed_s"] + time.time() - t_run)}) + "\n")
                    logf.flush()
                spent = state["elapsed_s"] + time.time() - t_run
                if time.time() - t_ckpt >= checkpoint_s or spent >= budget_s:
                    _save_checkpoint(work / "checkpoint", encoder, names, opt,
                                     {**state, "elapsed_s": spent})
                    t_ckpt = time.time()
                if spent >= budget_s:
                    stopped = True
                    break
            if stopped:
                break
    bar.close()
    state["elapsed_s"] += time.time() - t_run
    _save_checkpoint(work / "checkpoint", encoder, names, opt, state)
    summary = {
        "base": "multilingual-e5-small", "first_trained": settings.first_trained, "max_tokens": settings.max_tokens,
        "settings": settings.__dict__, "train_files": [Path(p).name for p in train], "examples": len(ids),
        "steps": state["step"], "total_steps": total, "finished": state["step"] >= total,
        "train_time_s": round(state["elapsed_s"]), "precision": state["precision"],
        "final_loss": float(np.mean(state["losses"][-200:])) if state["losses"] else None,
        "first_loss": float(np.mean(state["losses"][:50])) if state["losses"] else None,
        "tokens_per_s": round(seen_tokens / max(time.time() - t_run, 1e-9)),
    }
    if started_from is not None:
        summary["continues"] = started_from
        summary["train_time_s_in_all"] = round(state["elapsed_s"] + float(started_from.get("train_time_s_in_all") or 0))
    export(encoder, names, out, summary)
    return summary


def export(encoder: Any, names: list[str], out: Path, summary: dict) -> None:
    """Write the trained weights (fp16) and reader.json into `out`, each file atomically."""
    from qa.models.e5pack import materialize_e5

    params = dict(encoder.named_parameters())
    config = dict(summary)
    config["base_pack_sha256"] = base_sha256(materialize_e5())
    previous = out / CONFIG_FILE
    if previous.is_file():  # keep what benchmarks fitted and wrote, if the weights are the same run
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old.get("steps") == config["steps"]:
            for key in ("no_answer", "no_answer_fit", "length_prior"):
                if key in old:
                    config[key] = old[key]
    write_reader(out, pack_weights({n: params[n] for n in names}), config)

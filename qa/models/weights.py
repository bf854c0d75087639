"""The reader's weights on disk: fp16, int8 or int4 packing, and readers that combine several runs.

A reader folder holds reader.json and reader.safetensors with only what training changed of
e5 (the upper blocks and the span head). `edition-qa train reader` writes one run, fp16, under
plain names ("blocks.6.q.weight"); `edition-qa train combine` (`combine_readers`) writes several
runs as members ("member0.blocks.6.q.weight", ...), by default int8 with a scale per row, which
`qa.models.reader.Reader` averages.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.models.encoder import torch_module

__all__ = ["BITS", "CONFIG_FILE", "WEIGHTS_FILE", "combine_readers", "member_weights", "pack_weights", "reader_runs",
           "reader_spec", "unpack_weights", "write_reader"]

WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"


BITS = (16, 8, 4)
GROUP = 32  # int4: one scale per 32 weights of a row (the e5 pack's own 4-bit blocks are 32 long)
# int4 only for matrices this large: e5-small's feed-forward ones (384 x 1536); its attention
# matrices and the span head stay int8 (int4 there cost the reader 1 F1 on CMRC dev, the
# feed-forward ones 0.1; see the model card)
INT4_MIN = 262144


def pack_weights(weights: dict[str, Any], *, bits: int = 16) -> dict[str, Any]:
    """Trained weights as stored, vectors always fp16; matrices fp16 (`bits` 16), int8 with one
    fp16 scale per row (8: the row's largest |w| / 127, "NAME:int8" and "NAME:scale"), or int4
    with one fp16 scale per GROUP weights of a row (4: the group's largest |w| / 7, two weights
    a byte, "NAME:int4" and "NAME:scale"; matrices under INT4_MIN weights or with rows that are
    not whole groups int8). What each costs the reader's scores is in the model card."""
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, not {bits}")
    torch = torch_module()
    out = {}
    for name, w in weights.items():
        w = w.detach().float()
        small = w.numel() < INT4_MIN
        if w.dim() == 2 and (bits == 8 or (bits == 4 and (small or w.shape[1] % GROUP))):
            scale = (w.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
            out[f"{name}:int8"] = (w / scale).round().clamp(-127, 127).to(torch.int8).contiguous()
            out[f"{name}:scale"] = scale.to(torch.float16).contiguous()
        elif bits == 4 and w.dim() == 2:
            rows, cols = w.shape
            groups = w.reshape(rows, cols // GROUP, GROUP)
            scale = (groups.abs().amax(dim=2, keepdim=True) / 7).clamp_min(1e-12)
            scale = scale.to(torch.float16).float()  # quantize against the scale that is stored
            q = ((groups / scale).round().clamp(-7, 7) + 8).to(torch.uint8).reshape(rows, cols)
            out[f"{name}:int4"] = (q[:, 0::2] | (q[:, 1::2] << 4)).contiguous()
            out[f"{name}:scale"] = scale.reshape(rows, cols // GROUP).to(torch.float16).contiguous()
        else:
            out[name] = w.to(torch.float16).contiguous()
    return out


def unpack_weights(stored: dict[str, Any]) -> dict[str, Any]:
    """The float32 weights of `pack_weights`' output."""
    torch = torch_module()
    out = {}
    for key, t in stored.items():
        name, colon, kind = key.rpartition(":")
        kind = kind if colon else ""
        if kind in ("int8", "int4"):
            scale = stored.get(f"{name}:scale")
            if scale is None:
                raise ValueError(f"{name} has no scale")
            if kind == "int8":
                out[name] = t.float() * scale.float()
                continue
            rows, half = t.shape
            if scale.shape != (rows, 2 * half // GROUP):
                raise ValueError(f"{name}: its scale does not fit its int4 weights")
            q = torch.stack([t & 15, t >> 4], dim=2).reshape(rows, 2 * half).float() - 8
            out[name] = q * scale.float().repeat_interleave(GROUP, dim=1)
        elif kind != "scale":
            out[key] = t.float()
    return out


STORAGE = {16: "fp16", 8: "int8 matrices with an fp16 scale per row, fp16 vectors",
           4: f"int4 matrices of {INT4_MIN} weights or more with an fp16 scale per {GROUP} weights of a row, "
              "the others int8 with a scale per row, fp16 vectors"}


def _member_groups(stored: dict[str, Any], members: int) -> list[dict[str, Any]]:
    """The stored tensors of each member, under plain names (`members` 0: one run, as it is)."""
    if not members:
        return [stored]
    groups: list[dict[str, Any]] = [{} for _ in range(members)]
    for key, t in stored.items():
        head, _, rest = key.partition(".")
        k = int(head[len("member"):]) if head.startswith("member") and head[len("member"):].isdigit() else -1
        if not 0 <= k < members:
            raise ValueError(f"unexpected weight {key}")
        groups[k][rest] = t
    return groups


def member_weights(stored: dict[str, Any], members: int) -> list[dict[str, Any]]:
    """One dict of float32 weights per member: keys "member0.NAME", "member1.NAME", ... when the
    reader combines `members` runs, plain names for a single run (`members` 0)."""
    return [unpack_weights(g) for g in _member_groups(stored, members)]


def reader_spec(spec: str | os.PathLike) -> tuple[Path, list[int] | None]:
    """A reader named on the command line: "DIR" (every run it holds), or "DIR@I,J" for members I
    and J of a folder that combines runs ("qa/data/reader@0,1")."""
    text = str(spec)
    folder, at, picked = text.rpartition("@")
    if not at or not folder or not all(p.strip().isdigit() for p in picked.split(",")):
        return Path(text), None
    return Path(folder), [int(p) for p in picked.split(",")]


def reader_runs(spec: str | os.PathLike) -> list[tuple[dict, dict[str, Any], str, str]]:
    """The runs of a reader folder (`reader_spec`: only the members picked), each as (its config
    with the folder's shared keys, its tensors as stored under plain names, how they are stored,
    the sha256 it is known by: a run's file, or the hash a member was combined with).
    InputError when the folder holds no reader, a damaged one, or not the members picked."""
    from safetensors.torch import load

    folder, picked = reader_spec(spec)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise InputError(f"{folder}: no trained reader there (reader.json and reader.safetensors)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        data = weights_path.read_bytes()
        groups = _member_groups(load(data), len(config.get("members") or []))
    except Exception as exc:
        raise InputError(f"{folder}: the reader there is damaged ({str(exc).splitlines()[0]})") from exc
    if not config.get("members"):
        if picked is not None:
            raise InputError(f"{spec}: {folder} is one run, not a reader of members to pick from")
        return [(config, groups[0], STORAGE[16], hashlib.sha256(data).hexdigest())]
    if picked is not None and (not picked or any(not 0 <= k < len(groups) for k in picked)):
        raise InputError(f"{spec}: {folder} has members 0..{len(groups) - 1}")
    # a combined folder's members are its runs, each with the hash it was combined with
    shared = {k: config[k] for k in ("base", "first_trained", "max_tokens", "base_pack_sha256") if k in config}
    return [({**shared, **config["members"][k]}, groups[k], str(config.get("storage")),
             str(config["members"][k].get("weights_sha256")))
            for k in (picked if picked is not None else range(len(groups)))]


# what a combined reader records of each run it was made from
_RUN_KEYS = ("settings", "train_files", "examples", "steps", "total_steps", "finished", "train_time_s",
             "precision", "first_loss", "final_loss", "tokens_per_s", "continues", "train_time_s_in_all")


def combine_readers(folders: list[str | os.PathLike], out: str | os.PathLike, *, bits: int = 8,
                    routes: dict[str, list[int]] | None = None) -> dict:
    """Write into `out` one reader that averages the start and end logits of several trained
    ones (folders written by `train_reader`), their matrices stored with `bits` bits
    (`pack_weights`: 8, int8 with per-row scales, by default). A folder that already combines
    runs brings all of its members, in order (so a run can be added to a shipped reader), or
    those that "DIR@I,J" picks (so a member can be replaced: `reader_spec`); members stored as
    the combined reader stores them are carried over unchanged, the rest packed from float.
    `routes` maps a question language to the members that read it ({"zh": [0, 1], "en": [2]});
    a language it does not name is read by every member.

    The runs must share the e5 pack, the first trained block and the window length. What the
    benchmarks fitted on a run (length prior, no-answer calibration, retrieval weight) is not
    carried over: it belongs to that run's scores; fit it again on the combined reader.
    Returns the combined reader's reader.json.
    """
    if len(folders) < 2:
        raise InputError("combining needs at least two trained readers")
    configs, stored, hashes = [], {}, []
    for spec in folders:
        for run, tensors, storage, digest in reader_runs(spec):
            # a member stored as this reader stores its members is carried over as it is
            packed = tensors if storage == STORAGE[bits] else pack_weights(unpack_weights(tensors), bits=bits)
            stored.update({f"member{len(configs)}.{name}": t for name, t in packed.items()})
            hashes.append(digest)
            configs.append(run)
    bad = {lang: m for lang, m in (routes or {}).items() if not m or any(not 0 <= i < len(configs) for i in m)}
    if bad:
        raise InputError(f"routes name members the reader does not have ({bad}); it has 0..{len(configs) - 1}")
    for key in ("first_trained", "max_tokens", "base_pack_sha256"):
        if len({json.dumps(c.get(key)) for c in configs}) > 1:
            raise InputError(f"the readers differ in {key} ({', '.join(str(c.get(key)) for c in configs)}); "
                             "only runs over the same encoder setup can be combined")
    members = [{"weights_sha256": h, **{k: c[k] for k in _RUN_KEYS if k in c}} for h, c in zip(hashes, configs)]
    combined = {
        "base": configs[0].get("base"), "first_trained": configs[0]["first_trained"],
        "max_tokens": configs[0].get("max_tokens"), "base_pack_sha256": configs[0].get("base_pack_sha256"),
        "members": members,
        **({"routes": {lang: list(m) for lang, m in routes.items()}} if routes else {}),
        "storage": STORAGE[bits],
        "train_time_s_in_all": sum(int(m.get("train_time_s_in_all") or m.get("train_time_s") or 0) for m in members),
    }
    write_reader(out, stored, combined)
    return combined


def write_reader(out: str | os.PathLike, stored: dict[str, Any], config: dict) -> None:
    """Write a reader folder: `stored` (as `pack_weights` gives it) and its reader.json, each
    file atomically, the weights first."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(stored, str(tmp))
    os.replace(tmp, out / WEIGHTS_FILE)
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / CONFIG_FILE)

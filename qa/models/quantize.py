"""The reader in int8: dynamic quantization with activation smoothing, for CPUs without fast bf16.

Dynamic int8 quantizes a linear layer's input with one scale per tensor at run time. e5's hidden
states carry a few channels far larger than the rest, so that one scale leaves the others a
handful of levels: every linear layer in int8 costs 30 F1 on CMRC dev. Smoothing (as
SmoothQuant does) divides each input channel by s = max|x|^0.5 / max|w|^0.5 and multiplies
the weight's column by s, the same product in exact arithmetic, with the outliers moved into
the weights, which are quantized per output channel. The maxima of x per channel are measured
once on CMRC train questions (`edition-qa train int8-scales`) and ship beside the weights.
The feed-forward output `fc2`, whose input is the GELU output, stays fp32: smoothed or not, its
activations do not survive int8 (CMRC dev, reader alone, first 150 questions: F1 79.4 fp32,
64.7 with fc2 int8, 38 with fc2 smoothed at 0.5).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qa.errors import ModelError
from qa.models.encoder import torch_module

__all__ = ["ALPHA", "SCALES_FILE", "activation_maxima", "dynamic_int8", "int8_linears", "measure_maxima",
           "quantize_reader", "read_maxima", "write_maxima"]

SCALES_FILE = "int8-activations.safetensors"
# How much of an input channel's range moves into the weights (0: none, 1: all).
ALPHA = 0.5
_KEPT_FP32 = ("fc2", "span")


def _linears(reader: Any) -> list[tuple[str, Any, str, Any]]:
    """(key, owner module, name in owner, linear) of the reader's transformer blocks: the lower
    blocks as "lower.blocks.N.q", member i's as "member{i}.blocks.N.q"."""
    torch = torch_module()
    roots = [("lower", reader.encoder)] + [(f"member{i}", m) for i, m in enumerate(reader.members)]
    return [(f"{prefix}.{name}", root, name, m) for prefix, root in roots
            for name, m in root.named_modules()
            if isinstance(m, torch.nn.Linear) and name.startswith("blocks.")]


def activation_maxima(reader: Any, pairs: Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
    """The largest |input| per channel of every linear layer of the reader's blocks while it
    reads `pairs`, every member reading (an fp32 reader gives the reference figures)."""
    torch = torch_module()
    maxima: dict[str, Any] = {}
    hooks = []
    for key, _, _, linear in _linears(reader):
        def record(_: Any, inputs: tuple[Any, ...], key: str = key) -> None:
            x = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            maxima[key] = torch.maximum(maxima[key], x) if key in maxima else x
        hooks.append(linear.register_forward_pre_hook(record))
    routes = reader.config.get("routes")
    reader.config["routes"] = {}  # every member reads, whatever language it serves
    try:
        for question, passages in pairs:
            reader.read(question, passages)
    finally:
        reader.config["routes"] = routes
        for hook in hooks:
            hook.remove()
    return maxima


def measure_maxima(reader: Any, pairs: Iterable[tuple[str, list[str]]]) -> tuple[Path, int]:
    """Measure an fp32 reader's activation maxima on `pairs` and store them beside its weights;
    returns the file and the number of layers."""
    maxima = activation_maxima(reader, pairs)
    return write_maxima(reader.folder, maxima), len(maxima)


def write_maxima(folder: str | Path, maxima: dict[str, Any]) -> Path:
    """Store the activation maxima (fp16) beside a reader's weights; returns the file."""
    from safetensors.torch import save_file

    torch = torch_module()
    path = Path(folder) / SCALES_FILE
    tmp = path.with_suffix(".tmp")
    save_file({k: v.to(torch.float16).contiguous() for k, v in maxima.items()}, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def read_maxima(folder: str | Path) -> dict[str, Any] | None:
    """The activation maxima stored with a reader, or None when it has none."""
    from safetensors.torch import load_file

    path = Path(folder) / SCALES_FILE
    if not path.is_file():
        return None
    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except Exception as exc:
        raise ModelError(f"{path} is damaged ({str(exc).splitlines()[0]}); reinstall edition-qa or run "
                         "`edition-qa train int8-scales` again") from exc


def dynamic_int8(linear: Any) -> Any:
    """`linear` as a dynamic int8 layer (weights int8 per output channel, inputs quantized per call)."""
    torch = torch_module()
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch marks eager dynamic quantization deprecated
        warnings.simplefilter("ignore")
        return quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8)[0]


def _smoothed_class() -> Any:
    torch = torch_module()

    class Smoothed(torch.nn.Module):
        """x / s, then a linear layer whose weight columns were multiplied by s."""

        def __init__(self, inverse: Any, linear: Any) -> None:
            super().__init__()
            self.register_buffer("inverse", inverse)
            self.linear = linear

        def forward(self, x: Any) -> Any:
            return self.linear(x * self.inverse)

    return Smoothed


def smoothed(linear: Any, maximum: Any, *, alpha: float = ALPHA, quantize: bool = True) -> Any:
    """`linear` with its inputs smoothed by their per-channel `maximum` and, with `quantize`,
    in dynamic int8 (per output channel weights)."""
    torch = torch_module()
    weight = linear.weight.detach().float()
    s = (maximum.clamp(min=1e-5) ** alpha / weight.abs().amax(0).clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
    scaled = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        scaled.weight.copy_(weight * s[None, :])
        if linear.bias is not None:
            scaled.bias.copy_(linear.bias.detach().float())
    return _smoothed_class()(1.0 / s, dynamic_int8(scaled) if quantize else scaled)


def int8_linears(module: Any, maxima: dict[str, Any] | None = None, prefix: str = "") -> Any:
    """`module` with its blocks' linear layers in int8 but `fc2` (and the span head): smoothed
    where `maxima` has the layer (keys `prefix` + "." + its name), plain otherwise."""
    torch = torch_module()
    targets = [(name, m) for name, m in module.named_modules()
               if isinstance(m, torch.nn.Linear) and not name.endswith(_KEPT_FP32)]
    for name, linear in targets:
        key = f"{prefix}.{name}" if prefix else name
        new = (smoothed(linear, maxima[key]) if maxima is not None and key in maxima
               else dynamic_int8(linear))
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        setattr(owner, attr, new)
    return module


def quantize_reader(reader: Any, maxima: dict[str, Any] | None) -> None:
    """Put a loaded fp32 reader's lower blocks and members in int8 (`int8_linears`)."""
    reader.encoder = int8_linears(reader.encoder, maxima, "lower")
    reader.members = [int8_linears(m, maxima, f"member{i}") for i, m in enumerate(reader.members)]

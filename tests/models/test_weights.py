"""Reader folders on disk: picking members of a combined reader, carrying stored weights over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qa.errors import InputError
from qa.models.weights import (STORAGE, combine_readers, member_weights, pack_weights, reader_runs, reader_spec,
                               write_reader)

SHARED = {"base": "multilingual-e5-small", "first_trained": 10, "max_tokens": 128, "base_pack_sha256": "x"}


def _run(folder: Path, seed: int) -> dict:
    """A run's folder as `train reader` writes one: fp16 weights under plain names."""
    g = torch.Generator().manual_seed(seed)
    weights = {"blocks.10.fc1.weight": torch.randn(1536, 384, generator=g) / 20,  # int4-sized
               "blocks.10.q.weight": torch.randn(384, 384, generator=g) / 20, "span.bias": torch.randn(2, generator=g)}
    write_reader(folder, pack_weights(weights, bits=16), {**SHARED, "settings": {"seed": seed}, "train_time_s": seed})
    return weights


def test_reader_spec_reads_picked_members():
    assert reader_spec("qa/data/reader") == (Path("qa/data/reader"), None)
    assert reader_spec("qa/data/reader@0,1") == (Path("qa/data/reader"), [0, 1])
    assert reader_spec("runs/a@b") == (Path("runs/a@b"), None)  # not member numbers: a folder's name


def test_a_member_is_replaced_and_the_others_carried_over_unchanged(tmp_path):
    for seed in (1, 2, 3, 4):
        _run(tmp_path / f"run{seed}", seed)
    three = combine_readers([tmp_path / f"run{s}" for s in (1, 2, 3)], tmp_path / "three", bits=4)
    assert three["storage"] == STORAGE[4] and three["train_time_s_in_all"] == 6
    new = combine_readers([f"{tmp_path / 'three'}@0,1", tmp_path / "run4"], tmp_path / "new", bits=4,
                          routes={"zh": [0, 1], "en": [2]})
    assert [m["settings"]["seed"] for m in new["members"]] == [1, 2, 4]
    assert [m["weights_sha256"] for m in new["members"][:2]] == [m["weights_sha256"] for m in three["members"][:2]]
    from safetensors.torch import load_file

    before, after = load_file(str(tmp_path / "three" / "reader.safetensors")), load_file(str(tmp_path / "new" / "reader.safetensors"))
    for name in before:
        if not name.startswith("member2."):  # members 0 and 1 as they were stored, byte for byte
            assert torch.equal(before[name], after[name]), name
    own = member_weights(load_file(str(tmp_path / "run4" / "reader.safetensors")), 0)[0]
    got = member_weights(after, 3)[2]
    assert (got["blocks.10.fc1.weight"] - own["blocks.10.fc1.weight"]).abs().max() < 0.05  # int4 of run 4
    [(config, _, storage, digest)] = reader_runs(f"{tmp_path / 'new'}@2")
    assert config["settings"]["seed"] == 4 and storage == STORAGE[4] and digest == new["members"][2]["weights_sha256"]


def test_picking_members_refuses_what_is_not_there(tmp_path):
    _run(tmp_path / "run1", 1)
    _run(tmp_path / "run2", 2)
    combine_readers([tmp_path / "run1", tmp_path / "run2"], tmp_path / "two")
    with pytest.raises(InputError, match="has members 0..1"):
        reader_runs(f"{tmp_path / 'two'}@2")
    with pytest.raises(InputError, match="is one run"):
        reader_runs(f"{tmp_path / 'run1'}@0")
    with pytest.raises(InputError, match="no trained reader"):
        combine_readers([f"{tmp_path / 'none'}@0", tmp_path / "run1"], tmp_path / "out")
    assert json.loads((tmp_path / "two" / "reader.json").read_text())["storage"] == STORAGE[8]

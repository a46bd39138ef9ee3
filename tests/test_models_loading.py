"""One safe model loader: every stage loads through `models/loading.py`, and training refuses
pickled weights like the rest (the README promises they are never unpickled)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from seedtune.errors import SeedtuneError

SRC = Path(__file__).parents[1] / "src" / "seedtune"


def test_no_stage_calls_from_pretrained_directly():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "models" or path.name == "testing.py":
            continue  # the loader's home, and the test kit that builds models in memory
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.from_pretrained\(", line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(SRC)}:{number}")
    assert not offenders, f"load through seedtune.models.loading instead: {offenders}"


def test_training_refuses_pickled_weights(tmp_path, tiny_model, tiny_tokenizer):
    from seedtune.train.modeling import load_base

    directory = tmp_path / "pickled"
    directory.mkdir()
    tiny_model.config.save_pretrained(directory)
    tiny_tokenizer.save_pretrained(directory)
    torch.save(tiny_model.state_dict(), directory / "pytorch_model.bin")  # a pickle, as old checkpoints are
    assert not list(directory.glob("*.safetensors"))
    with pytest.raises(SeedtuneError, match="no safetensors"):
        load_base(str(directory), torch.float32)

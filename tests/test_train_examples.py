"""Every shipped example config loads: accelerate configs parse, the train config validates."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "accelerate"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "train.yaml"))
def test_accelerate_configs_parse(name):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(EXAMPLES / name)
    assert cfg.num_processes >= 2
    assert cfg.mixed_precision == "no"  # seedtune does its own autocast; accelerate must not add another


def test_train_yaml_validates():
    from seedtune.config import load_yaml, validate
    from seedtune.train import TrainConfig

    data = load_yaml(EXAMPLES / "train.yaml")["train"]
    cfg = validate(TrainConfig, data)
    assert cfg.lora_targets == "all-linear" and cfg.batch_size == 8

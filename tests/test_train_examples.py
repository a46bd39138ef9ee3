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


def test_multi_node_script_uses_real_accelerate_flags():
    """The multi-node example passes only flags `accelerate launch` knows, with the machine count."""
    import re
    import subprocess

    from accelerate.commands.launch import launch_command_parser

    script = EXAMPLES / "multi_node.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    launch = script.read_text().split("accelerate launch", 1)[1].split("-m seedtune.cli", 1)[0]
    flags = re.findall(r"(--[a-z_]+)", launch)
    known = {opt for action in launch_command_parser()._actions for opt in action.option_strings}
    assert {"--num_machines", "--machine_rank", "--main_process_ip", "--main_process_port"} <= set(flags)
    assert set(flags) <= known, set(flags) - known

"""The documented multi-GPU flow on CPUs: `seedtune run --until curate`, train under `accelerate
launch` (2 processes) into the run folder, then `seedtune run --from eval` evaluates that model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seedtune.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_from_eval_after_accelerate_launch(tmp_path, tiny_model_dir):
    config = {
        "name": "dist", "runs_dir": str(tmp_path / "runs"),
        "generate": {"include_seeds": True},
        "train": {"model": str(tiny_model_dir), "max_steps": 2, "batch_size": 2, "max_length": 256, "lora_r": 4,
                  "eval_fraction": 0.0, "tensorboard": False},
        "eval": {"suite": "heldout", "modes": ["zero"], "limit": 1, "max_new_tokens": 4,
                 "cache": str(tmp_path / "cache.sqlite")},
    }
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    run_pipeline(pipeline, until="curate", log=lambda m: None)
    run = tmp_path / "runs" / "dist"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "examples/accelerate/ddp_cpu.yaml"),
           "--main_process_port", str(_free_port()), "-m", "seedtune.cli", "train", "--config", str(pipeline),
           f"data={run / '2-curate' / 'kept.jsonl'}", f"output={run / '3-train' / 'model'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run / "3-train/model/metrics.json").read_text())["world_size"] == 2

    logs: list[str] = []
    result = run_pipeline(pipeline, start="eval", log=logs.append)
    status = {o.name: o.skipped for o in result.outcomes}
    assert status == {"generate": True, "curate": True, "train": True, "eval": False, "report": False}
    assert any("adopted" in m for m in logs)
    assert (run / "4-eval" / "scores.json").exists() and result.report.exists()
    assert result.outcomes[2].summary["model"] == str(run / "3-train" / "model")

    # A model trained with other settings than the pipeline's is not silently evaluated as its own.
    (run / "3-train" / "stage.json").unlink()
    from seedtune.errors import ConfigError

    with pytest.raises(ConfigError, match="learning_rate"):
        run_pipeline(pipeline, ["train.learning_rate=0.1"], start="eval", log=lambda m: None)

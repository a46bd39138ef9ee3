"""Sharded training saves the model it trained: FSDP2 with 2 CPU processes over gloo equals one process.

accelerate enables FSDP only on GPUs, so on CPU seedtune applies torch's FSDP2 (`fully_shard`)
itself (see `seedtune.train.distributed`); the save path is the same collective gather either
way. DeepSpeed through accelerate needs GPUs (its state reports one process on a CPU box), so
its test is `gpu`-marked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_train_sft import _cfg, _data, _free_port

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import json, sys
from seedtune.train import TrainConfig, train
res = train(TrainConfig(**json.loads(sys.argv[1])), progress=False)
if __import__('accelerate').PartialState().is_main_process:
    json.dump(res.losses, open(sys.argv[2], 'w'))
"""


def _launch(tmp_path: Path, cfg: dict, name: str, accelerate_config: str | None, nproc: int) -> tuple[list[float], str]:
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, str(worker), json.dumps(cfg), str(tmp_path / f"{name}.json")]
    if accelerate_config:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config,
               "--num_processes", str(nproc), "--main_process_port", str(_free_port()), *cmd[1:]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((tmp_path / f"{name}.json").read_text()), proc.stdout + proc.stderr


def _same_weights(a_dir: Path, b_dir: Path, atol: float) -> None:
    from safetensors.torch import load_file

    a, b = load_file(str(a_dir / "model.safetensors")), load_file(str(b_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol), (k, float((a[k] - b[k]).abs().max()))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("full", [True, False], ids=["full", "lora"])
def test_fsdp_two_cpu_processes_save_what_one_process_trains(tmp_path, tiny_model_dir, full):
    """2 processes x batch 2 under examples/accelerate/fsdp.yaml == 1 process x batch 4: same
    losses, and the saved (gathered) model has the same weights; LoRA also saves its adapter."""
    _data(tmp_path / "data.jsonl")
    kw = dict(full=full, max_steps=3, precision="fp32", learning_rate=1e-3, eval_fraction=0.1, lora_r=4)
    one, _ = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "one", batch_size=4, **kw).model_dump(mode="json"),
                  "one", None, 1)
    two, log = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "two", batch_size=2, **kw).model_dump(mode="json"),
                  "two", str(ROOT / "examples" / "accelerate" / "fsdp.yaml"), 2)
    assert "sharding: fsdp-cpu" in log  # really sharded, not silently data parallel
    assert two == pytest.approx(one, rel=1e-4)
    _same_weights(tmp_path / "one", tmp_path / "two", atol=1e-5)
    if not full:
        from safetensors.torch import load_file

        adapter = load_file(str(tmp_path / "two" / "adapter" / "adapter_model.safetensors"))
        assert adapter and all("lora_" in k for k in adapter)
        assert all(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # trained, gathered, not shards


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fsdp_checkpoint_resumes_to_the_same_model(tmp_path, tiny_model_dir):
    """Under FSDP on 2 CPU processes a checkpoint holds the gathered state (not rank 0's shards):
    resuming from step 2 reaches the weights of the uninterrupted 4-step run."""
    _data(tmp_path / "data.jsonl")
    fsdp = str(ROOT / "examples" / "accelerate" / "fsdp.yaml")
    kw = dict(max_steps=4, batch_size=2, precision="fp32", learning_rate=1e-3, eval_fraction=0.0, lora_r=4)
    whole, _ = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "whole", save_every=2, **kw).model_dump(mode="json"),
                       "whole", fsdp, 2)
    step2 = tmp_path / "whole" / "checkpoints" / "step-0000002"
    assert (step2 / "trainable.safetensors").exists()
    resumed, log = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "resumed", resume=str(step2), **kw).model_dump(mode="json"),
                           "resumed", fsdp, 2)
    assert "resumed from step-0000002" in log
    assert resumed == pytest.approx(whole, rel=1e-5)
    _same_weights(tmp_path / "whole", tmp_path / "resumed", atol=1e-6)


@pytest.mark.gpu
@pytest.mark.timeout(900)
@pytest.mark.parametrize("config_name,full", [("fsdp.yaml", False), ("fsdp.yaml", True),
                                              ("deepspeed_zero2.yaml", False), ("deepspeed_zero3.yaml", True)])
def test_sharded_gpu_run_saves_what_one_process_trains(tmp_path, tiny_model_dir, config_name, full):
    """On every GPU of the machine: accelerate's FSDP2 / ZeRO-2 / ZeRO-3 with gradient accumulation
    equals one plain process at the same global batch (losses and the gathered, saved weights).
    ZeRO-3 full fine-tuning also proves the head weight is gathered for the loss."""
    if config_name.startswith("deepspeed"):
        pytest.importorskip("deepspeed", reason="pip install deepspeed on the GPU machine")
    n = torch.cuda.device_count()
    _data(tmp_path / "data.jsonl")
    kw = dict(full=full, max_steps=3, precision="fp32", learning_rate=1e-3, eval_fraction=0.1, lora_r=4, grad_accum=2)
    one, _ = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "one", batch_size=2 * n, **kw).model_dump(mode="json"),
                     "one", None, 1)
    sharded, log = _launch(tmp_path, _cfg(tmp_path, tiny_model_dir, "sharded", batch_size=2, **kw).model_dump(mode="json"),
                           "sharded", str(ROOT / "examples" / "accelerate" / config_name), n)
    assert f"sharding: {'deepspeed' if config_name.startswith('deepspeed') else 'fsdp'}" in log
    assert sharded == pytest.approx(one, rel=1e-3)
    _same_weights(tmp_path / "one", tmp_path / "sharded", atol=1e-4)


def test_deepspeed_launch_without_gpu_says_where_it_runs(monkeypatch):
    from seedtune.errors import SeedtuneError
    from seedtune.train.distributed import refuse_cpu_deepspeed

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SeedtuneError, match="needs CUDA GPUs") as info:
        refuse_cpu_deepspeed()
    assert "fsdp.yaml" in info.value.hint

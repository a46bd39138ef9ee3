"""End-to-end SFT on the tiny model: it learns, writes a complete model dir, resumes exactly, scales out."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORDS = "the quick brown fox jumps over lazy dog apples paris france capital answer 北京 中国".split()


def _data(path: Path, n: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            rec = {"instruction": " ".join(rng.choices(WORDS, k=rng.randint(3, 10))),
                   "output": " ".join(rng.choices(WORDS, k=rng.randint(2, 12))),
                   "source": "self-instruct", "teacher": "scripted"}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def _cfg(tmp_path: Path, model_dir: Path, out: str, **kw):
    from seedtune.train import TrainConfig

    data = tmp_path / "data.jsonl"
    if not data.exists():
        _data(data)
    base = dict(model=str(model_dir), data=str(data), output=str(tmp_path / out), max_steps=6, batch_size=2,
                max_length=64, learning_rate=5e-3, tensorboard=False, warmup_ratio=0.0)
    base.update(kw)
    return TrainConfig(**base)


def test_full_finetune_learns_and_writes_everything(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from seedtune.prompts.formats import load_format
    from seedtune.train import train

    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    res = train(_cfg(tmp_path, tiny_model_dir, "out", full=True, max_steps=30, learning_rate=3e-3,
                     eval_fraction=0.1, tensorboard=True), progress=False)
    losses = res.losses
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses
    out = res.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("train_tokens", "tokens_per_second", "peak_rss_mb", "final_loss"):
        assert metrics[key] > 0
    assert metrics["eval_loss"] is not None
    merged = AutoModelForCausalLM.from_pretrained(out)
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) >= len(before) // 2
    assert load_format(out).type == "chat" and load_format(out).conversations is False  # chat: answer each message alone
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["records"] == 40 and lineage["teachers"] == {"scripted": 40} and len(lineage["data_sha256"]) == 64
    pre = json.loads((out / "preflight.json").read_text())
    assert pre["prompt_never_trained"] and pre["end_token_trained"] and 0 < pre["trained_fraction"] < 1
    assert list((out / "logs").glob("events.out.tfevents*"))


def test_conversations_train_every_turn_and_are_recorded(tmp_path, tiny_model_dir):
    from seedtune.prompts.formats import load_format
    from seedtune.train import train

    data = tmp_path / "chat.jsonl"
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
             {"role": "user", "content": "how are you"}, {"role": "assistant", "content": "fine thanks"}]
    data.write_text(json.dumps({"instruction": "", "messages": turns}) + "\n" +
                    json.dumps({"instruction": "say yes", "output": "yes"}) + "\n", encoding="utf-8")
    res = train(_cfg(tmp_path, tiny_model_dir, "out", data=str(data), max_steps=1, merge=False, eval_fraction=0.0),
                progress=False)
    assert res.preflight["all_turn_conversations"] == 1 and res.preflight["prompt_never_trained"]
    assert load_format(res.output).conversations is True  # chat keeps the history for this model


def test_lora_changes_only_adapter_and_merges(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from seedtune.train import train

    res = train(_cfg(tmp_path, tiny_model_dir, "lora", lora_r=4, learning_rate=5e-2, max_steps=15, precision="fp32"),
                progress=False)
    assert (res.output / "adapter" / "adapter_config.json").exists()
    assert res.losses[-1] < res.losses[0]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    merged = AutoModelForCausalLM.from_pretrained(res.output).state_dict()
    assert set(base) == set(merged)
    assert not torch.equal(base["model.layers.0.self_attn.q_proj.weight"], merged["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(base["model.embed_tokens.weight"], merged["model.embed_tokens.weight"])  # all-linear: head untouched


def test_resume_equals_uninterrupted(tmp_path, tiny_model_dir):
    import shutil

    from safetensors.torch import load_file

    from seedtune.train import train

    kw = dict(lora_r=4, lora_dropout=0.2, max_steps=6, save_every=3, learning_rate=2e-2, precision="fp32")
    full = train(_cfg(tmp_path, tiny_model_dir, "a", **kw), progress=False)
    assert (full.output / "checkpoints" / "step-0000003").exists()
    (tmp_path / "b").mkdir()
    shutil.copytree(full.output / "checkpoints", tmp_path / "b" / "checkpoints")
    resumed = train(_cfg(tmp_path, tiny_model_dir, "b", resume=True, **kw), progress=False)
    assert resumed.losses == full.losses
    a = load_file(str(full.output / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(resumed.output / "adapter" / "adapter_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pad_equals_eos_still_trains_eos(tmp_path):
    from seedtune.testing import save_tiny_model
    from seedtune.train import train

    model_dir = save_tiny_model(tmp_path / "m", pad_is_eos=True)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.eos_token
    tok.save_pretrained(model_dir)
    res = train(_cfg(tmp_path, model_dir, "o", max_steps=2), progress=False)
    assert res.preflight["end_token_trained"]


def test_cli_train_and_errors(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from seedtune.cli import app

    data = _data(tmp_path / "d.jsonl", n=10)
    runner = CliRunner()
    out = tmp_path / "cli-out"
    r = runner.invoke(app, ["train", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
                            "--max-steps", "2", "--lora-r", "4", "--batch-size", "2", "--max-length", "64",
                            "tensorboard=false"])
    assert r.exit_code == 0, r.output
    assert (out / "metrics.json").exists()
    r = runner.invoke(app, ["train", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out),
                            "--full", "--lora-r", "4"])
    assert r.exit_code != 0 and "--full" in str(r.exception)


DDP_WORKER = """
import json, sys
from seedtune.train import TrainConfig, train
cfg = TrainConfig(**json.loads(sys.argv[1]))
res = train(cfg, progress=False)
if res.output and __import__('accelerate').PartialState().is_main_process:
    json.dump(res.losses, open(sys.argv[2], 'w'))
"""


def _free_port() -> int:
    # Other jobs on the machine may hold accelerate's default port 29500.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_process_ddp_matches_one_process(tmp_path, tiny_model_dir):
    """2 CPU processes (gloo) x batch 2 == 1 process x batch 4: same losses, same weights."""
    from safetensors.torch import load_file

    _data(tmp_path / "data.jsonl")
    worker = tmp_path / "worker.py"
    worker.write_text(DDP_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

    def run(nproc: int, batch: int, name: str) -> list[float]:
        cfg = _cfg(tmp_path, tiny_model_dir, name, full=True, batch_size=batch, max_steps=4, precision="fp32",
                   learning_rate=1e-3).model_dump(mode="json")
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(nproc),
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                  "--main_process_port", str(_free_port())]
        cmd = (launch if nproc > 1 else [sys.executable]) + [str(worker), json.dumps(cfg), str(tmp_path / f"{name}.json")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((tmp_path / f"{name}.json").read_text())

    one = run(1, 4, "one")
    two = run(2, 2, "two")
    assert two == pytest.approx(one, rel=1e-4)
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k

"""The optional preference stage end to end on the tiny model: pairs from checkers (answers from a
fake OpenAI server, so the verdicts are known), DPO on the SFT model, and an eval of base, SFT
and SFT+DPO with SFT+DPO also compared with SFT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SERVER = Path(__file__).with_name("fake_openai_server.py")


@pytest.fixture
def fake_server():
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().split()[1])
    yield f"http://127.0.0.1:{port}/v1"
    proc.kill()


def test_sft_then_preferences_then_dpo(tmp_path, tiny_model_dir, fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    # The fake server answers "echo: <prompt> #i" for sample i: only sample 1 ends with "#1".
    end = {"id": "startend:end_checker", "kwargs": {"end_phrase": "#1"}}
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"instruction": f"Topic {k}: end your answer with #1.",
                                           "meta": {"constraints": [end]}}) + "\n" for k in range(6)))
    cache = str(tmp_path / "cache.sqlite")
    config = {
        "name": "pref", "runs_dir": str(tmp_path / "runs"),
        "generate": {"include_seeds": True},
        "train": {"model": str(tiny_model_dir), "max_steps": 2, "batch_size": 4, "max_length": 256, "lora_r": 4,
                  "eval_fraction": 0.0, "tensorboard": False},
        "preference": {"prompts": str(prompts), "on_policy": False,
                       "pairs": {"n": 4, "teacher": {"teacher": "openai:fake", "base_url": fake_server, "cache": cache}},
                       "dpo": {"max_steps": 3, "batch_size": 2, "lora_r": 4, "max_length": 128, "tensorboard": False,
                               "eval_fraction": 0.0}},
        "eval": {"suite": "heldout", "modes": ["zero"], "limit": 1, "max_new_tokens": 4, "cache": cache},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    from seedtune.pipeline import run_pipeline

    result = run_pipeline(path, log=lambda m: None)
    assert [o.name for o in result.outcomes] == ["generate", "curate", "train", "preference", "eval", "report"]
    run = tmp_path / "runs" / "pref"
    pref = json.loads((run / "3b-preference" / "stage.json").read_text())["summary"]
    assert pref["pairs"]["accepted"] == 6 and pref["pairs"]["pairs_by_how"] == {"checkers": 6}
    assert pref["dpo"]["reference_drift"] == 0.0 and pref["dpo"]["steps"] == 3
    pairs = [json.loads(line) for line in (run / "3b-preference" / "pairs.jsonl").read_text().splitlines()]
    assert all(p["chosen"].endswith("#1") and not p["rejected"].endswith("#1") for p in pairs)
    scores = json.loads((run / "4-eval" / "scores.json").read_text())
    assert scores["model_labels"] == ["base", "tuned", "tuned+dpo"]
    assert [(d["a"], d["b"]) for d in scores["deltas"]["models"]] == [
        ("base", "tuned"), ("base", "tuned+dpo"), ("tuned", "tuned+dpo")]
    assert all(cell["zero"]["overall"]["mean_length"] is not None for cell in scores["results"].values())
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage["preference"]["pairs"]["accepted"] == 6 and set(lineage["scores"]) == {"base", "tuned", "tuned+dpo"}
    report = (run / "report" / "report.md").read_text()
    assert "Preference pairs and DPO" in report and "pairs by checkers" in report and "Mean answer length" in report

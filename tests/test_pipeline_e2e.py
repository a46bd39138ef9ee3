"""`seedtune run` end to end on the tiny model: every stage runs, a rerun skips them all, the
report and lineage exist, and the tuned model loads with plain transformers."""

from __future__ import annotations

import json

import pytest
import yaml

from seedtune.pipeline import run_pipeline


@pytest.fixture
def pipeline_yaml(tmp_path, tiny_model_dir):
    config = {
        "name": "tiny",
        "runs_dir": str(tmp_path / "runs"),
        "generate": {
            "include_seeds": True,
            "self_instruct": {"teacher": {"teacher": f"hf:{tiny_model_dir}", "cache": str(tmp_path / "cache.sqlite")},
                              "target": 2, "requests_per_round": 2, "max_rounds": 1, "max_tokens": 24,
                              "instance_max_tokens": 16},
            "constraints": {"source": "seeds", "limit": 6},
        },
        "curate": {"decontamination": {"against": "heldout"}},
        "train": {"model": str(tiny_model_dir), "max_steps": 2, "batch_size": 4, "max_length": 256, "lora_r": 4,
                  "eval_fraction": 0.0, "tensorboard": False},
        "eval": {"suites": ["heldout", "heldout-if"], "if_prompts": 4, "if_max_new_tokens": 8,
                 "modes": ["zero"], "limit": 1, "max_new_tokens": 8,
                 "cache": str(tmp_path / "cache.sqlite"), "judge": f"hf:{tiny_model_dir}", "judge_modes": ["pairwise"],
                 "judge_check": 4},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_end_to_end_rerun_skips_and_override_reruns_downstream(pipeline_yaml, tmp_path):
    logs: list[str] = []
    result = run_pipeline(pipeline_yaml, log=logs.append)
    assert [o.name for o in result.outcomes] == ["generate", "curate", "train", "eval", "report"]
    assert not any(o.skipped for o in result.outcomes)
    run_dir = tmp_path / "runs" / "tiny"
    for path in ("config.yaml", "1-generate/pool.jsonl", "2-curate/kept.jsonl", "2-curate/funnel.json",
                 "3-train/model/metrics.json", "4-eval/scores.json", "report/report.html", "lineage.json"):
        assert (run_dir / path).exists(), path
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["training_data"]["sha256"] and set(lineage["scores"]) == {"base", "tuned"}
    # The judge's win rate and its own check travel to the lineage and the run report's headline.
    judge = lineage["judge"]
    assert judge["verdict"] == "logprobs" and 0 <= judge["win_rate"]["tuned vs base"]["zero"] <= 1
    assert judge["check_accuracy"] is not None and isinstance(judge["reliable"], bool)
    report = (run_dir / "report" / "report.md").read_text()
    assert "tuned vs base (zero): win rate" in report and "check pairs" in report
    # Constraint data reached the pool, and heldout-if was evaluated on the same two models.
    pool = [json.loads(line) for line in (run_dir / "1-generate" / "pool.jsonl").read_text().splitlines()]
    assert sum(r["source"] == "constraints" for r in pool) == 6
    assert set(lineage["instructions"]["heldout-if"]) == {"base", "tuned"}
    assert "Verifiable instructions: heldout-if" in report and "held-out families" in report

    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(result.model)  # the tuned model loads with plain transformers

    again = run_pipeline(pipeline_yaml, log=logs.append)
    assert all(o.skipped for o in again.outcomes)

    # An override reruns only the stage it touches and those after it.
    result = run_pipeline(pipeline_yaml, ["eval.max_new_tokens=6"], log=lambda m: None)
    assert {o.name: o.skipped for o in result.outcomes} == {
        "generate": True, "curate": True, "train": True, "eval": False, "report": False}


def test_examples_validate_against_the_schema():
    from pathlib import Path

    from seedtune.pipeline.config import load_pipeline

    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
    assert examples, "examples/ has no pipeline YAML"
    for path in examples:
        load_pipeline(path)
    # The quickstart example is the config `seedtune quickstart` runs, kept identical.
    from seedtune.pipeline import quickstart_config_path

    assert (Path(__file__).parent.parent / "examples" / "quickstart.yaml").read_text() == quickstart_config_path().read_text()

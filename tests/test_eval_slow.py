"""The real base student (gemma-3-270m, no chat template) through `evaluate`: a few held-out
instances zero-shot, then a rerun answered entirely from the cache."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_gemma_zero_shot_on_heldout_subset(tmp_path):
    from seedtune.data import load_heldout_suite
    from seedtune.evaluate import EvalConfig, evaluate
    from seedtune.models import resolve_model

    model_dir = resolve_model("gemma-3-270m")
    tasks = load_heldout_suite()
    wanted = [t for t in tasks if any("我喜欢吃苹果" in i["input"] for i in t["instances"])]
    wanted += [next(t for t in tasks if t["metric"] == "accuracy"), next(t for t in tasks if t["metric"] == "exact_match")]
    suite = tmp_path / "suite.jsonl"
    suite.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in wanted), encoding="utf-8")

    config = dict(models=[str(model_dir)], suite=str(suite), modes=["zero"], limit=2, max_new_tokens=24,
                  cache=str(tmp_path / "cache.sqlite"), bootstrap_samples=200)
    result = evaluate(EvalConfig(output=str(tmp_path / "out"), **config))
    rows = result.predictions
    assert len(rows) == 6 and result.generated == 6
    assert result.scores.models[0].prompt_format == "alpaca"  # base model: no chat template
    assert all(r["prompt"].rstrip().endswith("### Response:") for r in rows)
    assert all(0.0 <= r["score"] <= 1.0 for r in rows) and any(r["raw_output"].strip() for r in rows)
    assert "我喜欢吃苹果" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")

    again = evaluate(EvalConfig(output=str(tmp_path / "again"), **config))
    assert again.generated == 0 and [r["raw_output"] for r in again.predictions] == [r["raw_output"] for r in rows]


def test_nearest_demonstrations_with_the_real_encoder():
    from seedtune.evaluate.prompting import DemoSelector, sentence_encoder
    from seedtune.evaluate.suites import Instance, Suite, Task

    task = Task("qa", "Answer the question.", [
        Instance("q0", "What is the capital of France?", ["Paris"]),
        Instance("q1", "How many legs does a spider have?", ["8"]),
        Instance("q2", "What is the capital of Italy?", ["Rome"]),
        Instance("q3", "What colour is the sky on a clear day?", ["blue"]),
        Instance("q4", "How many legs does an insect have?", ["6"]),
    ])
    selector = DemoSelector(Suite("s", [task]), "nearest", encoder=sentence_encoder())
    assert selector.select(task, task.instances[0], 1)[0][1].id == "q2"
    assert [d.id for _, d in selector.select(task, task.instances[1], 2)][-1] == "q4"  # closest sits last

"""evaluate() end to end: scripted models and judge, outputs, deltas, cache resume, contamination,
and the real `seedtune eval` command on the tiny model."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from seedtune.evaluate import EvalConfig, evaluate
from seedtune.evaluate.backends import fingerprint_dir
from seedtune.teachers import ScriptedTeacher

SUITE = [
    {"id": "fr", "instruction": "Translate the sentence into French.", "category": "translation", "lang": "en", "metric": "bleu",
     "instances": [{"input": "我喜欢吃苹果。", "output": "J'aime manger des pommes."}, {"input": "今天很冷。", "output": "Il fait froid aujourd'hui."},
                   {"input": "My brother lives in Canada.", "output": "Mon frère habite au Canada."}]},
    {"id": "sent", "instruction": "Classify the sentiment as positive or negative.", "category": "sentiment", "lang": "en",
     "metric": "accuracy", "is_classification": True, "labels": ["positive", "negative"],
     "instances": [{"input": "Great film!", "output": "positive"}, {"input": "Awful plot.", "output": "negative"},
                   {"input": "I loved it.", "output": "positive"}, {"input": "Boring.", "output": "negative"}]},
    {"id": "sum", "instruction": "What is the sum?", "category": "math", "lang": "en", "metric": "exact_match",
     "instances": [{"input": "2 and 2", "output": "4"}, {"input": "3 and 4", "output": "7"}, {"input": "10 and 5", "output": "15"}]},
]


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "suite.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in SUITE), encoding="utf-8")
    return path


def _answers():
    return {(t["instruction"], i["input"]): i["output"] for t in SUITE for i in t["instances"]}


def oracle(request):
    """A 'tuned' model: answers right (CoT with a final-answer sentence)."""
    query = request.messages[-1][1]
    cot = "think step by step" in query
    query = query.replace("\n\nLet's think step by step.", "")
    instruction, _, given = query.partition("\n\n")
    answer = _answers()[(instruction, given)]
    return f"Let me reason about it. The answer is {answer}." if cot else answer


def test_evaluate_end_to_end(tmp_path, suite_file):
    base = ScriptedTeacher(default="I do not know.", model_id="base")
    tuned = ScriptedTeacher(default=oracle, model_id="tuned")
    judge = ScriptedTeacher(default=lambda r: "Rating: [[8]]" if "[Assistant" in r.messages[-1][1] else "[[B]]")
    # This judge fails its check; judge_if_unreliable asks it for verdicts anyway (reported as not evidence).
    config = EvalConfig(models=["base", "tuned"], suite=str(suite_file), modes="zero,few:2,cot", output=str(tmp_path / "out"),
                        no_cache=True, bootstrap_samples=200, judge_if_unreliable=True)
    result = evaluate(config, teachers={"base": base, "tuned": tuned}, judge=judge)

    assert all(p.exists() for p in result.files.values())
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3 * 10 == len(result.predictions)
    assert {"model", "mode", "task", "instance", "prompt", "raw_output", "answer", "scores", "extraction"} <= set(rows[0])
    # All of a model's requests went out together (3 modes x 10 instances in one chunk).
    assert len(base.seen) == 30 and len(tuned.seen) == 30
    few = [r for r in rows if r["mode"] == "few:2"]
    assert all(len(r["demos"]) == 2 and r["instance"] not in r["demos"] for r in few)

    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores == json.loads(json.dumps(result.scores.to_json()))
    tuned_zero = scores["results"]["tuned"]["zero"]
    assert tuned_zero["overall"]["score"] == pytest.approx(1.0) and tuned_zero["categories"]["sentiment"]["metrics"]["accuracy"] == 1.0
    cot = scores["results"]["tuned"]["cot"]  # answers extracted from the chain of thought
    assert cot["tasks"]["sent"]["score"] == 1.0 and cot["tasks"]["sum"]["score"] == 1.0 and cot["overall"]["extraction_failures"] == 0
    assert cot["tasks"]["fr"]["metrics"]["rouge_l"] == 1.0
    assert scores["results"]["base"]["zero"]["overall"]["score"] < 0.2
    delta = next(d for d in scores["deltas"]["models"] if d["mode"] == "zero")["overall"]
    assert delta["delta"] > 0.8 and delta["ci_low"] > 0 and delta["wins"] == 10 and delta["p_sign"] < 0.01
    assert {(d["model"], d["b"]) for d in scores["deltas"]["modes"]} == {(m, b) for m in ("base", "tuned") for b in ("few:2", "cot")}
    # Base cannot be parsed on label / number tasks: failures counted, logged to a file.
    assert scores["extraction_failures"]["base"]["zero"] == 7 and result.extraction_failures > 0
    assert (tmp_path / "out" / "extraction_failures.jsonl").read_text().count("\n") == result.extraction_failures
    pair = scores["judge"]["pairwise"]["tuned vs base"]["zero"]
    assert pair["wins"] == 0 and pair["ties"] == 10 and pair["swap_consistency"] == 0.0  # always "[[B]]" = position bias
    assert scores["judge"]["single"]["tuned"]["zero"] == 8.0
    # The judge was checked first on known pairs; always answering "[[B]]" is a guess, and said to be one.
    check = scores["judge"]["check"]
    assert check["n"] == 10 and check["accuracy"] == 0.5 and not check["reliable"] and scores["judge"]["verdict"] == "generate"
    assert "not evidence" in scores["judge"]["warning"]
    assert scores["timing"]["tuned"]["requests"] == 30 and "notes" not in scores

    html = (tmp_path / "out" / "report.html").read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "<style>" in html and "我喜欢吃苹果" in html
    assert "Translation example" in md and "figures/categories_zero.png" in md
    assert "**Judge check**" in md and "not evidence" in md
    assert (tmp_path / "out" / "figures" / "categories_zero.png").read_bytes()[:4] == b"\x89PNG"


def test_contaminated_tasks_are_marked(tmp_path, suite_file):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"instruction": "Classify the sentiment as positive or negative.", "output": "positive"}) + "\n")
    config = EvalConfig(models=["m"], suite=str(suite_file), output=str(tmp_path / "out"), no_cache=True,
                        train_data=[str(train)], bootstrap_samples=100)
    result = evaluate(config, teachers={"m": ScriptedTeacher(default=oracle)})
    assert set(result.contamination["m"]) == {"sent"}
    assert all(r["contaminated"] == (r["task"] == "sent") for r in result.predictions)
    assert result.scores.results["m"]["zero"].overall_clean.n == 6
    assert "Contamination" in (tmp_path / "out" / "report.md").read_text()


def test_rerun_with_the_tiny_model_regenerates_nothing(tmp_path, suite_file, tiny_model_dir):
    common = dict(models=[str(tiny_model_dir)], suite=str(suite_file), modes=["zero", "cot"], limit=2,
                  max_new_tokens=6, cot_max_new_tokens=6, cache=str(tmp_path / "cache.sqlite"), bootstrap_samples=100)
    first = evaluate(EvalConfig(output=str(tmp_path / "a"), **common))
    assert first.generated == 2 * 6
    second = evaluate(EvalConfig(output=str(tmp_path / "b"), **common))
    assert second.generated == 0 and all(r["cached"] for r in second.predictions)
    assert [r["raw_output"] for r in first.predictions] == [r["raw_output"] for r in second.predictions]
    assert first.predictions[0]["prompt"].startswith("<|im_start|>user\n")  # the tiny model's chat template


def test_fingerprint_follows_weights_not_paths(tmp_path, tiny_model_dir):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert fingerprint_dir(copy) == fingerprint_dir(tiny_model_dir)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert fingerprint_dir(copy) != fingerprint_dir(tiny_model_dir)


def test_cli_end_to_end_with_the_tiny_model(tmp_path, suite_file, tiny_model_dir):
    from seedtune.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "-m", str(tiny_model_dir), "-m", str(tiny_model_dir), "--label", "A",
                                      "--label", "B", "--suite", str(suite_file), "--modes", "zero,few:1", "--limit", "1",
                                      "-o", str(out), "max_new_tokens=4", f"cache={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    assert "Overall" in result.output and "B − A" in result.output
    assert {p.name for p in out.iterdir()} >= {"predictions.jsonl", "scores.json", "report.md", "report.html"}
    scores = json.loads((out / "scores.json").read_text())
    assert scores["deltas"]["models"][0]["overall"]["delta"] == 0.0  # same model twice, greedy: identical answers


def test_cli_errors_name_the_flag(tmp_path, suite_file):
    from seedtune.cli import app
    from seedtune.errors import ConfigError

    result = CliRunner().invoke(app, ["eval", "--suite", str(suite_file), "-o", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "--model" in result.exception.hint
    result = CliRunner().invoke(app, ["eval", "-m", "x", "--modes", "zero,fewer", "-o", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "few:K" in result.exception.hint


def test_cli_reads_a_yaml_config_and_flags_win(tmp_path, suite_file, tiny_model_dir):
    from seedtune.cli import app

    config = tmp_path / "eval.yaml"
    config.write_text(f"eval:\n  models: [{tiny_model_dir}]\n  suite: {suite_file}\n  modes: [zero, cot]\n  limit: 1\n"
                      f"  max_new_tokens: 3\n  cot_max_new_tokens: 3\n  cache: {tmp_path / 'c.sqlite'}\n  output: {tmp_path / 'unused'}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--config", str(config), "--modes", "zero", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["modes"] == ["zero"] and scores["config"]["max_new_tokens"] == 3 and not (tmp_path / "unused").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval:\n  modles: [x]\n")
    result = CliRunner().invoke(app, ["eval", "--config", str(bad), "-m", "x", "-o", str(out)])
    assert "eval.modles" in str(result.exception) and "models" in str(result.exception)


def test_openai_compatible_endpoint_model(tmp_path, suite_file):
    import subprocess
    import sys
    from pathlib import Path

    server = Path(__file__).with_name("fake_openai_server.py")
    proc = subprocess.Popen([sys.executable, str(server)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        config = EvalConfig(models=["openai:fake-model"], base_url=f"http://127.0.0.1:{port}/v1", suite=str(suite_file),
                            modes="zero,few:1", limit=1, output=str(tmp_path / "out"), no_cache=True, bootstrap_samples=100)
        result = evaluate(config)
    finally:
        proc.kill()
        proc.wait()
    rows = result.predictions
    assert len(rows) == 6 and result.scores.models[0].prompt_format == "messages"
    # The endpoint echoes the last user message: the query, after the demonstration turns.
    assert all(r["raw_output"].startswith("echo: " + r["instruction"]) for r in rows)
    few = [r for r in rows if r["mode"] == "few:1"]
    assert all(r["prompt"].startswith("[user]") and "[assistant]" in r["prompt"] for r in few)


def test_logprob_judge_that_passes_its_check_reports_a_trusted_win_rate(tmp_path, suite_file):
    """A judge whose letter probabilities favour the right answer: checked, trusted, tuned wins."""
    answers = set(_answers().values())

    def judge_reply(request):
        text = request.messages[-1][1]
        shown_a = text.split("[Answer A]")[1].split("[Answer B]")[0].strip() if "[Answer A]" in text else \
            text.split("【回答 A】")[1].split("【回答 B】")[0].strip()
        return {"A": 0.8, "B": 0.1, "C": 0.1} if shown_a in answers else {"B": 0.8, "A": 0.1, "C": 0.1}

    judge = ScriptedTeacher(default=judge_reply, model_id="hf:judge")
    config = EvalConfig(models=["base", "tuned"], suite=str(suite_file), modes="zero", output=str(tmp_path / "out"),
                        no_cache=True, bootstrap_samples=200, judge_modes=["pairwise"], judge_check=6,
                        compare=[["tuned", "base"]])
    result = evaluate(config, teachers={"base": ScriptedTeacher(default="I do not know.", model_id="base"),
                                        "tuned": ScriptedTeacher(default=oracle, model_id="tuned")}, judge=judge)
    summary = result.scores.judge
    assert summary["verdict"] == "logprobs" and all(r.top_logprobs and r.max_tokens == 1 for r in judge.seen)
    assert summary["check"]["n"] == 6 and summary["check"]["reliable"] and "warning" not in summary
    pair = summary["pairwise"]["tuned vs base"]["zero"]
    assert pair["wins"] == 10 and pair["win_rate"] == 1.0 and pair["swap_consistency"] == 1.0
    # A named pair is judged too, the other way round here.
    assert summary["pairwise"]["base vs tuned"]["zero"]["losses"] == 10
    assert "single" not in summary
    from rich.console import Console

    from seedtune.cli.evaluate import print_summary

    console = Console(record=True, width=200)
    print_summary(result.scores, console)
    text = console.export_text()
    assert "judge tuned vs base (zero): 10 wins / 0 ties / 0 losses" in text
    assert "judge check: right answer picked in 6 of 6 known pairs" in text
    assert "Per category" in text and "Per task" in text and "tuned" in text.split("Per task")[1]


def test_a_judge_that_fails_its_check_is_not_asked_for_verdicts(tmp_path, suite_file):
    """Always answering "[[B]]" is a coin flip on the known pairs: no verdicts are requested after it."""
    judge = ScriptedTeacher(default="[[B]]")
    config = EvalConfig(models=["base", "tuned"], suite=str(suite_file), modes="zero", output=str(tmp_path / "out"),
                        no_cache=True, bootstrap_samples=100, judge_check=6, compare=[["tuned", "base"]])
    result = evaluate(config, teachers={"base": ScriptedTeacher(default="I do not know.", model_id="base"),
                                        "tuned": ScriptedTeacher(default=oracle, model_id="tuned")}, judge=judge)
    summary = result.scores.judge
    assert summary["skipped"] and not summary["check"]["reliable"] and "not asked for verdicts" in summary["warning"]
    assert len(judge.seen) == 2 * 6  # the check's pairs in both orders, nothing after
    assert "single" not in summary and "pairwise" not in summary
    assert "not asked for verdicts" in (tmp_path / "out" / "report.md").read_text()
    # An extra comparison by label, here the reverse of the default one, with per-language deltas.
    pair = result.scores.deltas.pairs[0]
    assert (pair.a, pair.b) == ("tuned", "base") and pair.overall.delta < 0 and set(pair.langs) == {"en"}


def test_compare_must_name_model_labels(tmp_path, suite_file):
    from seedtune.errors import ConfigError

    config = EvalConfig(models=["base", "tuned"], suite=str(suite_file), output=str(tmp_path / "out"), no_cache=True,
                        compare=[["base", "seeds-only"]])
    with pytest.raises(ConfigError, match="'seeds-only', which is not a model label"):
        evaluate(config, teachers={"base": ScriptedTeacher(default="x"), "tuned": ScriptedTeacher(default="y")})

def test_a_priced_evaluation_never_spends_past_max_cost(tmp_path, suite_file, fake_server):
    """Models and judge draw on one hard budget; a stop says what was spent, a higher budget continues."""
    import sqlite3

    from seedtune.cache import BudgetExceeded

    url = fake_server()
    prices = {"fake-model": {"input": 1000.0, "output": 1000.0}, "fake-judge": {"input": 2000.0, "output": 2000.0}}
    cache = tmp_path / "cache.sqlite"

    def config(max_cost: float) -> EvalConfig:
        return EvalConfig(models=["openai:fake-model"], base_url=url, judge="openai:fake-judge", judge_modes=["single"],
                          judge_check=0, suite=str(suite_file), modes="zero", output=str(tmp_path / "out"),
                          cache=str(cache), prices=prices, max_cost=max_cost, max_new_tokens=8, judge_max_tokens=8,
                          bootstrap_samples=100)

    def paid() -> float:  # every answer bought is in the cache: what the provider charged
        with sqlite3.connect(cache) as db:
            rows = db.execute("SELECT model, prompt_tokens, completion_tokens FROM completions").fetchall()
        return sum((p + c) * (2000 if "judge" in m else 1000) / 1e6 for m, p, c in rows)

    with pytest.raises(BudgetExceeded, match="max_cost 0.5 reached: spent") as stopped:
        evaluate(config(0.5))
    assert "rerun with a higher max_cost" in stopped.value.hint
    assert 0 < paid() <= 0.5
    result = evaluate(config(50.0))
    cost = result.scores.cost
    assert cost["cost"] <= 50.0 and cost["fresh_cost"] < cost["cost"]  # part of it was paid in the first run
    assert paid() == pytest.approx(cost["cost"], rel=1e-6) and cost["budget"]["stopped"] is None
    assert set(cost["by_model"]) == {result.scores.models[0].spec.replace("openai:", "eval:openai:") + "@"
                                     + result.scores.models[0].fingerprint, f"openai:fake-judge@{url}"}

"""The typed shape of scores.json (reads and writes the same file) and the one wording of a verdict,
which follows the confidence interval: better / worse only when the interval excludes zero."""

from __future__ import annotations

import json
import math

import pytest

from seedtune.errors import InputError
from seedtune.evaluate.instructions import aggregate_instructions
from seedtune.evaluate.results import EvalScores, SuiteInfo, callout_kind, comparison_sentence, tone, verdict
from seedtune.evaluate.scoring import aggregate
from seedtune.evaluate.stats import PairedComparison
from seedtune.evaluate.suites import Instance, Suite, Task


def _comparison(delta: float, lo: float, hi: float, *, p: float = 0.5) -> PairedComparison:
    return PairedComparison(n=40, mean_a=0.40, mean_b=0.40 + delta, delta=delta, ci_low=lo, ci_high=hi,
                            wins=12, losses=5, ties=23, p_sign=p)


@pytest.mark.parametrize("delta, lo, hi, word, kind, cell", [
    (0.030, 0.010, 0.050, "better", "success", "good"),
    (-0.030, -0.050, -0.010, "worse", "warning", "bad"),
    # A large mean gain and a small p-value, but the interval holds zero: no claim either way.
    (0.200, -0.010, 0.400, "not clearly different", "info", "muted"),
    (-0.200, -0.400, 0.001, "not clearly different", "info", "muted"),
    # A tiny gain whose interval excludes zero is a real one.
    (0.001, 0.0005, 0.0015, "better", "success", "good"),
    (math.nan, math.nan, math.nan, "not clearly different", "info", "muted"),  # nothing to compare
])
def test_the_verdict_follows_the_confidence_interval(delta, lo, hi, word, kind, cell):
    c = _comparison(delta, lo, hi, p=0.001)
    assert verdict(c) == word and callout_kind(c) == kind and tone(lo, hi) == cell
    sentence = comparison_sentence(c, "base", "tuned", "zero")
    assert f"— {word};" in sentence and sentence.startswith("**tuned** vs **base** (zero): ")


def test_the_sentence_carries_means_difference_interval_counts_and_sign_test():
    sentence = comparison_sentence(_comparison(0.032, 0.010, 0.055, p=0.143), "base", "tuned", "few:2",
                                   note=" — adds self-instruct")
    assert sentence == ("**tuned** vs **base** (few:2) — adds self-instruct: 0.432 vs 0.400, difference +0.032 "
                        "(95% CI [+0.010, +0.055]) — better; per instance: 12 better, 5 worse, 23 equal "
                        "(sign test p = 0.143).")
    percent = comparison_sentence(_comparison(0.25, 0.05, 0.45), "base", "tuned", "heldout-if, zero",
                                  percent=True, unit="prompt")
    assert "65.0% vs 40.0%, difference +0.250" in percent and "per prompt: 12 better" in percent


def _rows(model: str, scores: list[float], lang: str = "en") -> list[dict]:
    return [{"model": model, "mode": "zero", "task": f"t{i % 2}", "instance": str(i), "category": f"c{i % 2}",
             "lang": lang, "score": s, "scores": {"rouge_l": s}, "extraction": {"ok": True}, "contaminated": i == 0,
             "response": "an answer"} for i, s in enumerate(scores)]


def _scores() -> EvalScores:
    suite = Suite("s", [Task(f"t{k}", "do it", [Instance(str(i), "", ["x"]) for i in range(k, 6, 2)],
                             category=f"c{k}") for k in (0, 1)])
    rows = _rows("base", [0, 0, 0.5, 0, 0, 1]) + _rows("tuned", [1, 1, 0.5, 1, 1, 1])
    return aggregate(rows, suite, ["base", "tuned"], ["zero"], samples=50, pairs=[("tuned", "base")])


def _checked_rows(model: str, verdicts: list[bool]) -> list[dict]:
    return [{"model": model, "mode": "zero", "task": str(i), "lang": "en", "response": "ok",
             "checks": {"ids": ["punctuation:no_comma"], "families": ["punctuation"], "strict": [v], "loose": [v]}}
            for i, v in enumerate(verdicts)]


def _instructions() -> dict:
    block = aggregate_instructions(_checked_rows("base", [False, False, True]) + _checked_rows("tuned", [True] * 3),
                                   ["base", "tuned"], ["zero"], samples=50)
    return {**block, "suite": {"name": "heldout-if", "source": "heldout_if.jsonl", "prompts": 3, "instructions": 3,
                               "langs": {"en": 3}, "prompts_cap": None, "max_new_tokens": 64, "skipped": 0,
                               "skipped_lines": []}}


def test_scores_json_reads_back_to_the_same_bytes(tmp_path):
    scores = _scores()
    scores.suite = SuiteInfo(name="s", tasks=2, instances=6, categories=["c0", "c1"])
    scores.judge = None
    scores.write(tmp_path / "scores.json")
    text = (tmp_path / "scores.json").read_text(encoding="utf-8")
    data = json.loads(text)
    # The field names readers of older files look up, where they have always been.
    assert data["results"]["tuned"]["zero"]["overall_clean"]["n"] == 5 and data["deltas"]["modes"] == []
    assert {"a", "b", "mode", "overall", "categories", "langs", "tasks"} == set(data["deltas"]["pairs"][0])
    assert list(data)[:5] == ["results", "deltas", "modes", "model_labels", "suite"]
    again = EvalScores.read(tmp_path / "scores.json")
    again.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == text


def test_a_file_from_before_a_field_existed_is_written_back_without_it():
    old = _scores().to_json()
    for cell in old["results"].values():
        del cell["zero"]["overall"]["mean_length"]
    del old["deltas"]["models"][0]["langs"]
    old["from_a_newer_version"] = {"kept": True}
    assert EvalScores.from_json(json.loads(json.dumps(old))).to_json() == old


def test_verifiable_suites_alone_keep_their_numbers_under_results_too():
    data = {"model_labels": ["base", "tuned"], "modes": ["zero"], "instructions": {"heldout-if": _instructions()}}
    scores = EvalScores.from_json(data)
    written = scores.to_json()
    assert list(written)[:4] == ["model_labels", "modes", "instructions", "results"]
    assert written["results"]["tuned"]["zero"]["prompt_loose"] == 1.0
    assert EvalScores.from_json(written).to_json() == written and not EvalScores.from_json(written).results
    assert scores.headline_scores()["base"]["zero"] == pytest.approx(1 / 3)
    delta = scores.instructions["heldout-if"].deltas[0].overall["prompt_loose"]
    assert isinstance(delta, PairedComparison) and delta.wins == 2


def test_every_report_words_a_comparison_the_same_way():
    from seedtune.evaluate.report import build_document
    from seedtune.evaluate.report_if import summary_callouts
    from seedtune.pipeline.report import _headline

    scores = _scores()
    scores.suite = SuiteInfo(name="s", tasks=2, instances=6, categories=["c0", "c1"])
    scores.instructions = EvalScores.from_json({"instructions": {"heldout-if": _instructions()}}).instructions
    d = scores.deltas.models[0]
    expected = comparison_sentence(d.overall, "base", "tuned", "zero")
    suite = Suite("s", [Task("t0", "do it", [Instance("0", "", ["x"])], category="c0")])
    doc = build_document(scores, [], suite, n_examples=0)
    eval_summary = [b.text for b in doc.sections[0].blocks if hasattr(b, "text")]
    run_verdict = [b.text for b in _headline(scores)]
    assert expected in eval_summary and expected == run_verdict[0]
    (callout,) = summary_callouts(scores.instructions)
    assert callout.text in eval_summary and callout.text in run_verdict and "— better;" in callout.text


def test_a_scores_file_that_cannot_be_read_names_the_file_and_field(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"results": {"m": {"zero": {"overall": {"n": "many"}}}}}), encoding="utf-8")
    with pytest.raises(InputError) as info:
        EvalScores.read(path)
    assert info.value.path == str(path) and info.value.field == "results.m.zero.overall.n"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="scores.json"):
        EvalScores.read(path)

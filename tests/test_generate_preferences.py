"""Preference pairs from sampled answers: by checkers, by reference, by a judge with position swap;
every prompt without a pair is dropped with its reason; a rerun resumes from the cache."""

from __future__ import annotations

import json
import re

import pytest

from seedtune.formats.pairs import read_pairs
from seedtune.generate.common import TeacherConfig
from seedtune.generate.preferences import JudgeSettings, PreferencesConfig, preferences
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher

LOWER = {"id": "change_case:english_lowercase", "kwargs": {}}


def _sampler(answers: dict[str, list[str]]) -> ScriptedTeacher:
    """Answers keyed by a word of the prompt; sample k of a request gets answers[key][k]."""
    seen: dict[str, int] = {}

    def reply(request):
        text = request.messages[-1][1]
        key = next(k for k in answers if k in text)
        k = seen.get(key, 0)
        seen[key] = k + 1
        return answers[key][k % len(answers[key])]

    return ScriptedTeacher(model_id="student", default=reply)


def _cfg(tmp_path, **kw) -> PreferencesConfig:
    return PreferencesConfig(teacher=TeacherConfig(cache=str(tmp_path / "cache.sqlite")), **{"n": 4, **kw})


def _rejected(out):
    path = out.with_name(out.stem + ".rejected.jsonl")
    return {json.loads(line)["instruction"]: json.loads(line)["meta"]["rejected"] for line in path.read_text().splitlines()}


def test_checker_pairs_choose_a_passing_answer_and_drop_what_cannot_pair(tmp_path):
    records = [Record(instruction="Describe alpha in lowercase.", meta={"constraints": [LOWER]}),
               Record(instruction="Describe beta in lowercase.", meta={"constraints": [LOWER]}),
               Record(instruction="Describe gamma in lowercase.", meta={"constraints": [LOWER]}),
               Record(instruction="Describe delta.")]
    teacher = _sampler({"alpha": ["alpha is a letter.", "ALPHA IS A GREEK LETTER OF OLD.", "Alpha Is Big", "alpha is a letter."],
                        "beta": ["beta.", "beta is fine.", "beta again.", "beta, yes."],
                        "gamma": ["GAMMA.", "Gamma.", "GAMMA RAYS.", "Gamma!"],
                        "delta": ["Delta.", "A river delta."]})
    out = tmp_path / "pairs.jsonl"
    summary = preferences(records, out, _cfg(tmp_path), teacher=teacher, progress=False)
    [pair] = read_pairs(out)
    assert pair.how == "checkers" and pair.chosen == "alpha is a letter." and pair.margin == 1.0
    assert pair.rejected == "Alpha Is Big"  # of the two failing answers, the one closest in length
    assert pair.meta["checks_chosen"] == [True] and pair.meta["checks_rejected"] == [False]
    assert pair.meta["answers"] == 3 and pair.teacher == "student" and pair.source == "preferences"
    assert _rejected(out) == {"Describe beta in lowercase.": "all_pass", "Describe gamma in lowercase.": "none_pass",
                              "Describe delta.": "no_signal"}
    assert summary["rejected_by_reason"] == {"all_pass": 1, "none_pass": 1, "no_signal": 1}
    assert summary["pairs_by_how"] == {"checkers": 1} and summary["mean_length_chosen"] == 4


def test_reference_pairs_by_rouge_and_ties_dropped(tmp_path):
    records = [Record(instruction="Capital of France?", output="Paris is the capital of France."),
               Record(instruction="Say hi.", output="Hello there."),
               Record(instruction="Only one answer.", output="x")]
    teacher = _sampler({"France": ["Paris is the capital of France.", "I like cheese.", "It is Paris."],
                        "hi": ["Hi.", "Hey.", "Yo."],
                        "one": ["same", "same", "same", "same"]})
    out = tmp_path / "pairs.jsonl"
    preferences(records, out, _cfg(tmp_path), teacher=teacher, progress=False)
    [pair] = read_pairs(out)
    assert (pair.how, pair.chosen, pair.rejected, pair.margin) == ("reference", "Paris is the capital of France.",
                                                                   "I like cheese.", 1.0)
    assert pair.meta["metric"] == "rouge_l"
    assert _rejected(out) == {"Say hi.": "tie", "Only one answer.": "too_few_answers"}


def test_exact_match_reference(tmp_path):
    teacher = _sampler({"2+2": ["4", "The answer: 4.", "five"]})
    out = tmp_path / "pairs.jsonl"
    preferences([Record(instruction="2+2=?", output="4")], out, _cfg(tmp_path, reference_metric="exact_match", n=3),
                teacher=teacher, progress=False)
    [pair] = read_pairs(out)
    assert pair.chosen == "4" and pair.rejected in ("The answer: 4.", "five") and pair.margin == 1.0


def _judge_reply(prefers: str):
    """A scripted judge that picks the answer containing `prefers`, else calls a tie."""
    def reply(request):
        text = request.messages[-1][1]
        a = re.search(r"\[Answer A\]\n(.*?)\n\n\[Answer B\]", text, re.S).group(1)
        b = re.search(r"\[Answer B\]\n(.*?)\n\n", text, re.S).group(1)
        if prefers in a and prefers not in b:
            return "A is right. [[A]]"
        if prefers in b and prefers not in a:
            return "B is right. [[B]]"
        return "Both alike. [[C]]"
    return reply


def _judge(tmp_path, reply):
    from seedtune.cache import RequestCache
    from seedtune.generate.pair_judge import open_pair_judge

    return open_pair_judge(JudgeSettings(teacher="scripted-judge", verdict="generate", check=4),
                           teacher=ScriptedTeacher(model_id="judge", default=reply), cache=RequestCache(tmp_path / "j.sqlite"))


def _judge_records():
    # With an input, the known pair for the check is (the record's answer, its input echoed back).
    return [Record(instruction=f"Task {w}: rewrite politely.", input=f"ECHO {w}", output=f"good answer {w}")
            for w in ("one", "two", "three", "four")]


def test_judge_pairs_in_both_orders_and_flips_dropped(tmp_path):
    records = _judge_records()
    teacher = _sampler({"one": ["good reply", "bad reply"], "two": ["bad", "good"], "three": ["meh", "okay"],
                        "four": ["fine", "fine too"]})

    def judge_reply(request):  # a position-biased judge on 'four': always the first answer shown
        text = request.messages[-1][1]
        if "Task four" in text:
            return "[[A]]"
        return _judge_reply("good")(request)

    out = tmp_path / "pairs.jsonl"
    summary = preferences(records, out, _cfg(tmp_path, n=2, routes=["judge"],
                                              judge=JudgeSettings(teacher="scripted-judge", verdict="generate")),
                          teacher=teacher, judge=_judge(tmp_path, judge_reply), progress=False)
    assert summary["judge_check"]["reliable"] and summary["judge_check"]["n"] == 4
    pairs = {p.instruction: p for p in read_pairs(out)}
    assert set(pairs) == {"Task one: rewrite politely.", "Task two: rewrite politely."}
    assert pairs["Task one: rewrite politely."].chosen == "good reply"
    assert pairs["Task two: rewrite politely."].chosen == "good" and pairs["Task two: rewrite politely."].how == "judge"
    assert pairs["Task two: rewrite politely."].meta["judge"] == {"first": "B", "second": "B"}
    assert _rejected(out) == {"Task three: rewrite politely.": "tie", "Task four: rewrite politely.": "judge_flip"}


def test_unreliable_judge_is_not_used(tmp_path):
    records = _judge_records()
    teacher = _sampler({w: ["good reply", "bad reply"] for w in ("one", "two", "three", "four")})
    out = tmp_path / "pairs.jsonl"
    summary = preferences(records, out, _cfg(tmp_path, n=2, routes=["judge"],
                                              judge=JudgeSettings(teacher="scripted-judge", verdict="generate")),
                          teacher=teacher, judge=_judge(tmp_path, _judge_reply("ECHO")), progress=False)
    assert summary["judge_check"]["reliable"] is False
    assert summary["accepted"] == 0 and summary["rejected_by_reason"] == {"judge_unreliable": 4}


def test_configured_judge_must_be_opened(tmp_path):
    from seedtune.errors import ConfigError

    with pytest.raises(ConfigError):
        preferences([Record(instruction="x")], tmp_path / "p.jsonl",
                    _cfg(tmp_path, judge=JudgeSettings(teacher="hf:x")), teacher=ScriptedTeacher(default="a"))


def test_rerun_resumes_from_the_cache(tmp_path):
    records = [Record(instruction=f"Describe item {i} in lowercase.", meta={"constraints": [LOWER]}) for i in range(5)]
    answers = {f"item {i}": [f"item {i} is small.", f"ITEM {i} IS LOUD."] for i in range(5)}
    out = tmp_path / "pairs.jsonl"
    first = preferences(records, out, _cfg(tmp_path, n=2, chunk=2), teacher=_sampler(answers), progress=False)
    before = out.read_text()
    again = preferences(records, out, _cfg(tmp_path, n=2, chunk=2), teacher=ScriptedTeacher(model_id="student"), progress=False)
    assert first["accepted"] == again["accepted"] == 5 and again["cache"]["misses"] == 0
    assert out.read_text() == before and again["resumed_rows"] == 5


def test_cli_samples_from_a_model_directory(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from seedtune.cli import app

    inp = tmp_path / "prompts.jsonl"
    inp.write_text("\n".join(json.dumps({"instruction": f"Say {w}.", "output": w}) for w in ("yes", "no")) + "\n")
    out = tmp_path / "pairs.jsonl"
    args = ["generate", "preferences", str(inp), str(out), "--model", str(tiny_model_dir), "--n", "2",
            "--max-tokens", "4", "--cache", str(tmp_path / "c.sqlite"), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "pairs.stats.json").read_text())
    assert stats["method"] == "preferences" and stats["inputs"] == 2
    # engine: auto runs the directory on llama.cpp where llama-cpp-python is installed; the id says which
    assert stats["teacher"].startswith(f"{stats['teacher_stats']['engine']}:")
    assert stats["accepted"] + stats["rejected"] == 2
    both = CliRunner().invoke(app, [*args, "--teacher", "hf:x"])
    assert both.exit_code != 0 and "--model" in str(both.exception)

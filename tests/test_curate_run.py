"""The curate API and CLI end to end: outputs, funnel arithmetic, empty and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seedtune.cli import app
from seedtune.curate import CurateConfig, curate
from seedtune.errors import InputError
from seedtune.formats import write_records
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher

SUITE = [Record(instruction="Name the capital city of the given country.", input="France", output="Paris", task="capitals")]


def pool() -> list[Record]:
    return [
        Record(instruction="Write a short poem about the sea at night.", output="Dark water hums below the moon."),
        Record(instruction="Write a short poem about the sea at dawn.", output="Light spills over the waves."),
        Record(instruction="Write a short poem about the sea at night!", output="Another poem."),
        Record(instruction="Draw a picture of a happy dog.", output="Here you go, a happy dog."),
        Record(instruction="Explain photosynthesis simply.", output="As an AI language model, I can explain."),
        Record(instruction="List three uses of copper.", output=""),
        Record(instruction="请解释为什么天空是蓝色的。", output="因为大气中的分子对蓝光的散射更强。"),
        Record(instruction="Name the capital city of the given country.", input="Japan", output="Tokyo"),
        Record(instruction="Describe how a bicycle gear works.", output="Gears trade speed for force."),
    ]


def test_curate_writes_outputs_and_funnel_adds_up(tmp_path) -> None:
    result = curate(pool(), tmp_path / "out", CurateConfig(), suite=SUITE)
    out = tmp_path / "out"
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    funnel = json.loads((out / "funnel.json").read_text())
    assert len(kept) + len(dropped) == 9 == funnel["input"]
    assert funnel["kept"] == len(kept) and funnel["dropped"] == len(dropped)
    steps = funnel["steps"]
    assert steps[0]["in"] == 9 and steps[-1]["out"] == len(kept)
    for a, b in zip(steps, steps[1:]):
        assert a["out"] == b["in"]
    assert sum(s["dropped"] for s in steps) == len(dropped)
    by_filter = {d["filter"]: d for d in dropped}
    assert set(by_filter) == {"empty-output", "keywords", "refusal", "exact", "near-dup-rouge", "decontamination"}
    assert all(d["reason"] and "instruction" in d for d in dropped)
    assert {r["instruction"] for r in kept} == {"请解释为什么天空是蓝色的。", "Write a short poem about the sea at night.",
                                               "Describe how a bicycle gear works."}
    assert all(r["kept_reason"].startswith("passed:") for r in kept)
    # cheapest first: every step's filter cost is non-decreasing
    assert [s["filter"] for s in steps][:3] == ["empty-output", "output-equals-input", "truncated"]
    assert (out / "diversity.md").exists() and (out / "lengths.png").stat().st_size > 1000
    assert "write poem" in (out / "diversity.md").read_text() or "write" in (out / "diversity.md").read_text()
    assert result.paths["kept.jsonl"] == out / "kept.jsonl"


def test_order_as_given_and_judge_in_the_funnel(tmp_path) -> None:
    teacher = ScriptedTeacher(default="Score: 1\nReason: Not helpful.")
    # judge.check=0: this scripted judge would fail its check (see test_curate_filters)
    cfg = CurateConfig(filters=["llm-judge", "exact"], order="as-given", report=False, judge={"check": 0})
    result = curate(pool()[:3], tmp_path, cfg, teacher=teacher)
    assert [s.filter for s in result.funnel.steps] == ["llm-judge", "exact"]
    assert len(teacher.seen) == 3 and result.kept == []
    assert all(d.filter == "llm-judge" and "Not helpful" in d.reason for d in result.dropped)
    funnel = json.loads((tmp_path / "funnel.json").read_text())
    assert funnel["steps"][0]["parse_failures"] == 0


def test_empty_input_file_gives_message_and_empty_outputs(tmp_path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    result = curate(src, tmp_path / "out", CurateConfig(filters=["exact"]))
    assert result.kept == [] and "no records" in result.messages[0]
    assert (tmp_path / "out" / "kept.jsonl").read_text() == ""
    assert json.loads((tmp_path / "out" / "funnel.json").read_text())["input"] == 0


def test_missing_field_is_named_with_its_line(tmp_path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"instruction": "ok", "output": "x"}\n{"output": "no instruction"}\n')
    with pytest.raises(InputError) as err:
        curate(src, tmp_path / "out", CurateConfig(filters=["exact"]))
    assert "line 2" in str(err.value) and "instruction" in str(err.value)
    assert src.read_text().count("\n") == 2  # input untouched


def test_cli_end_to_end(tmp_path) -> None:
    src = tmp_path / "pool.jsonl"
    write_records(src, pool())
    suite = tmp_path / "suite.jsonl"
    write_records(suite, SUITE)
    runner = CliRunner()
    res = runner.invoke(app, ["curate", str(src), str(tmp_path / "out"), "--against", str(suite),
                              "--threshold", "0.95", "length.min_instruction=2"])
    assert res.exit_code == 0, res.output
    assert "curation funnel" in res.output and "near-dup-rouge" in res.output
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["config"]["near_dup"]["threshold"] == 0.95
    assert funnel["config"]["length"]["min_instruction"] == 2
    # at 0.95 the 'dawn' variant (F = 0.89) survives
    kept = (tmp_path / "out" / "kept.jsonl").read_text()
    assert "dawn" in kept

    res = runner.invoke(app, ["curate", str(src), str(tmp_path / "o2"), "-f", "exact", "-f", "near-dup-rouge"])
    assert res.exit_code == 0, res.output
    assert [s["filter"] for s in json.loads((tmp_path / "o2" / "funnel.json").read_text())["steps"]] == ["exact", "near-dup-rouge"]


def test_cli_errors_are_clear(tmp_path) -> None:
    import subprocess
    import sys

    src = tmp_path / "pool.jsonl"
    write_records(src, pool())
    cmd = [sys.executable, "-c", "from seedtune.cli import main; main()", "curate", str(src), str(tmp_path / "o")]
    bad = subprocess.run(cmd + ["near_dup.treshold=0.5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "near_dup.treshold" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run(cmd + ["-f", "fuzzy"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a known filter" in bad.stderr


def test_hand_written_records_skip_heuristics_but_not_dedup(tmp_path):
    """Seeds are trusted: a heuristic (the keyword rule) spares them, deduplication does not."""
    from seedtune.curate import CurateConfig, curate
    from seedtune.records import Record

    seed = Record(instruction="Read a text file and count its lines in Python.", output="sum(1 for _ in open(p))",
                  source="seed")
    generated = seed.with_(source="self-instruct", instruction="Open the file and count its lines with Python.")
    duplicate = seed.with_(source="seed", meta={"copy": True})
    config = CurateConfig(filters=["keywords", "exact"])
    result = curate([seed, generated, duplicate], tmp_path / "out", config)
    assert [r.source for r in result.kept] == ["seed"]
    assert sorted(d.filter for d in result.dropped) == ["exact", "keywords"]

    strict = curate([seed, generated], tmp_path / "strict", config.model_copy(update={"trusted_sources": []}))
    assert not strict.kept  # with no trusted sources the keyword rule applies to everyone


def test_language_check_ignores_code_and_echo_check_keeps_repunctuation():
    from seedtune.curate.quality import Language, OutputEqualsInput
    from seedtune.records import Record

    code = Record(instruction="用Python写一个函数，把摄氏温度转换为华氏温度。",
                  output="def c_to_f(c):\n    return c * 9 / 5 + 32")
    assert Language().check(code) is None
    english = Record(instruction="用一句话介绍长城。", output="The Great Wall is a series of fortifications in China.")
    assert Language().check(english) is not None
    fixed = Record(instruction="Add the missing punctuation.", input="where are you going", output="Where are you going?")
    assert OutputEqualsInput().check(fixed) is None
    assert OutputEqualsInput().check(fixed.with_(output="where are you going")) is not None


def test_the_judge_never_spends_past_max_cost(tmp_path) -> None:
    from seedtune.cache import BudgetExceeded
    from seedtune.curate.config import JudgeConfig

    teacher = ScriptedTeacher(default="Score: 4\nReason: Fine.", model_id="judge-model")
    prices = {"judge-model": {"input": 100.0, "output": 100.0}}

    def config(max_cost: float) -> CurateConfig:
        return CurateConfig(filters=["llm-judge"], report=False, trusted_sources=[],
                            judge=JudgeConfig(prices=prices, max_cost=max_cost, max_tokens=16, check=0))

    def paid(requests) -> float:  # what the scripted provider charged for what it was asked
        tokens = sum(len(c.split()) for r in requests for _, c in r.messages) + 4 * len(requests)  # 4-word replies
        return tokens * 100.0 / 1e6

    with pytest.raises(BudgetExceeded, match="spent"):
        curate(pool(), tmp_path / "a", config(0.12), teacher=teacher)
    assert 0 < len(teacher.seen) < len(pool()) and paid(teacher.seen) <= 0.12
    teacher.seen.clear()
    result = curate(pool(), tmp_path / "b", config(10.0), teacher=teacher)
    step = json.loads((tmp_path / "b" / "funnel.json").read_text())["steps"][0]
    assert len(teacher.seen) == len(pool()) and len(result.kept) == len(pool())
    assert step["usage"]["cost"] <= 10.0
    assert step["usage"]["cost"] == pytest.approx(paid(teacher.seen), rel=1e-6)

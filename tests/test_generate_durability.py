"""Generation defects that lost data or money: writing into its own input, JSONL it could not read
back, one refused request aborting the run, and a budget that was only checked between batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from seedtune.formats import read_records
from seedtune.generate.common import TeacherConfig
from seedtune.generate.respond import RespondConfig, respond
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher

from conftest import server_stats
from test_cli_data import run_main


def _records(n: int, poison: int | None = None) -> list[Record]:
    return [Record(instruction=f"question {i}" + (" poison" if i == poison else "")) for i in range(n)]


def _config(tmp_path: Path, **teacher: object) -> RespondConfig:
    return RespondConfig(teacher=TeacherConfig(cache=str(tmp_path / "cache.sqlite"), **teacher), chunk=4)


@pytest.mark.parametrize("same", [True, False], ids=["own-input", "foreign-file"])
def test_generate_never_truncates_a_file_it_did_not_write(tmp_path, monkeypatch, capsys, same):
    """`generate respond in.jsonl in.jsonl` (or OUT = someone else's file without a final newline)
    used to lose the last record to the tail repair before anything checked whose file it was."""
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"instruction": "first"}) + "\n" + json.dumps({"instruction": "last"}))
    out = source if same else tmp_path / "theirs.jsonl"
    if not same:
        out.write_bytes(source.read_bytes())
    before = out.read_bytes()
    code, stdout, stderr = run_main(monkeypatch, capsys, "generate", "respond", str(source), str(out), "--teacher",
                                    "openai:x", "--base-url", "http://127.0.0.1:9/v1", "--cache",
                                    str(tmp_path / "c.sqlite"), "-q")
    said = " ".join((stdout + stderr).split())
    assert code == 2 and "Traceback" not in said
    assert ("is the input file" if same else "did not write") in said
    assert out.read_bytes() == before
    assert not (tmp_path / "in.stats.json").exists() and not (tmp_path / "theirs.stats.json").exists()


def test_line_separators_in_answers_survive_a_write_and_a_read(tmp_path):
    odd = "one\u2028two\u2029three\u0085four"
    out = tmp_path / "answers.jsonl"
    respond(_records(2), out, _config(tmp_path), teacher=ScriptedTeacher(default=odd), progress=False)
    raw = out.read_text(encoding="utf-8")
    assert "\u2028" not in raw and "\\u2028" in raw and len(raw.split("\n")) == 3  # escaped on write
    assert [r.output for r in read_records(out)] == [odd, odd]
    # Another tool may write them raw (JSON allows it): the reader must not split the line there.
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"instruction": "a", "output": odd}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [r.output for r in read_records(foreign)] == [odd]


def test_a_refused_request_rejects_its_record_and_keeps_the_paid_answers(tmp_path, fake_server):
    url = fake_server("--reject", "poison")
    out = tmp_path / "answers.jsonl"
    config = _config(tmp_path, teacher="openai:fake", base_url=url, concurrency=4)
    summary = respond(_records(10, poison=5), out, config, progress=False)
    assert summary["accepted"] == 9 and summary["rejected_by_reason"] == {"provider_error": 1}
    rejected = [json.loads(line) for line in (tmp_path / "answers.rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["meta"]["rejected"] == "provider_error" and "HTTP 400" in rejected[0]["meta"]["detail"]["error"]
    assert [r.instruction for r in read_records(out)] == [f"question {i}" for i in range(10) if i != 5]
    again = respond(_records(10, poison=5), out, config, progress=False)
    assert again["accepted"] == 9 and again["appended_rows"] == 0
    stats = server_stats(url)
    assert stats["repeated"] == 1  # only the refused request was asked again; every paid answer came from the cache


def test_the_budget_holds_in_respond_and_a_higher_one_continues(tmp_path):
    prices = {"scripted": {"input": 1000.0, "output": 1000.0}}
    out = tmp_path / "answers.jsonl"
    teacher = ScriptedTeacher(default="a fine answer of six words")
    # Worst case per request: (30 prompt-byte bound + 16 max_tokens) x $1000/1M = 0.046; actual 0.008.
    config = _config(tmp_path, prices=prices, max_cost=0.15)
    config = config.model_copy(update={"max_tokens": 16})
    first = respond(_records(40), out, config, teacher=teacher, progress=False)
    assert first["cost"] <= 0.15 and first["stopped_early"] and 0 < first["accepted"] < 40
    assert first["budget"]["undone_requests"] > 0 and "spent" in first["stopped_early"]
    bigger = config.model_copy(update={"teacher": config.teacher.model_copy(update={"max_cost": 100.0})})
    second = respond(_records(40), out, bigger, teacher=teacher, progress=False)
    assert second["accepted"] == 40 and second["cost"] <= 100.0
    assert len(teacher.seen) == 40  # over both runs, each request was bought exactly once
    assert [r.instruction for r in read_records(out)] == [f"question {i}" for i in range(40)]


def test_max_cost_without_prices_says_what_to_set(tmp_path):
    from seedtune.errors import ConfigError

    with pytest.raises(ConfigError, match="prices"):
        respond(_records(1), tmp_path / "o.jsonl", _config(tmp_path, max_cost=1.0), teacher=ScriptedTeacher(default="x"),
                progress=False)


def test_the_cli_stops_at_the_budget_says_what_it_spent_and_a_rerun_continues(tmp_path, fake_server, monkeypatch, capsys):
    url = fake_server()
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"question {i}"}) + "\n" for i in range(20)))
    prices = tmp_path / "prices.yaml"
    prices.write_text("fake: {input: 1000, output: 1000}\n")
    out = tmp_path / "out.jsonl"

    def run(max_cost: str) -> tuple[int, str]:
        code, stdout, stderr = run_main(monkeypatch, capsys, "generate", "respond", str(source), str(out), "-t",
                                        "openai:fake", "--base-url", url, "--cache", str(tmp_path / "c.sqlite"),
                                        "--prices", str(prices), "--max-cost", max_cost, "--max-tokens", "8", "-q")
        return code, " ".join((stdout + stderr).split())

    code, said = run("0.3")
    summary = json.loads((tmp_path / "out.stats.json").read_text())
    assert code == 0 and "stopped early: max_cost 0.3 reached: spent" in said and "not sent" in said
    assert 0 < summary["cost"] <= 0.3 and 0 < summary["accepted"] < 20
    code, said = run("5")
    summary = json.loads((tmp_path / "out.stats.json").read_text())
    assert code == 0 and summary["accepted"] == 20 and summary["cost"] <= 5 and "stopped early" not in said
    assert server_stats(url)["repeated"] == 0  # the first run's answers were reused, not bought again

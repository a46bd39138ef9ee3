"""`seedtune data convert` and `seedtune data inspect`, driven through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seedtune.cli import app
from seedtune.formats import read_records

from cli_kit import run_main

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_data_help_lists_both_commands():
    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0
    assert "convert" in result.output and "inspect" in result.output


def test_convert_seed_tasks_to_jsonl_and_sharegpt(tmp_path):
    out = tmp_path / "seeds.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / "seed_tasks_sample.jsonl"), str(out)])
    assert result.exit_code == 0, result.output
    assert "read 4 records (seed_tasks)" in flat(result.output) and "wrote 4 records (jsonl)" in flat(result.output)
    assert [r.task for r in read_records(out)][:2] == ["breakfast_suggestion", "antonym_relation"]
    sg = tmp_path / "seeds.sg.json"
    result = runner.invoke(app, ["data", "convert", str(out), str(sg), "--output-format", "sharegpt"])
    assert result.exit_code == 0, result.output
    assert json.loads(sg.read_text(encoding="utf-8"))[0]["conversations"][0]["from"] == "human"
    back = tmp_path / "back_tasks.jsonl"
    result = runner.invoke(app, ["data", "convert", str(out), str(back), "--to", "seed_tasks"])  # the old name
    assert result.exit_code == 0 and "wrote 3 tasks" in flat(result.output)


def test_format_flags_have_one_name_shown_and_the_old_one_still_works(tmp_path):
    """`--from` names a stage in `seedtune run`; data's format flag is --input-format, and --from,
    its old name, still reads (unlisted); the two given differently is an error."""
    help_text = runner.invoke(app, ["data", "convert", "--help"]).output
    assert "--input-format" in help_text and "--output-format" in help_text and "--from" not in help_text
    seeds = str(FIXTURES / "seed_tasks_sample.jsonl")
    result = runner.invoke(app, ["data", "inspect", seeds, "--from", "seed_tasks", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["format"] == "seed_tasks"
    result = runner.invoke(app, ["data", "convert", seeds, str(tmp_path / "o.jsonl"), "--input-format", "jsonl",
                                 "--from", "seed_tasks"])
    assert result.exit_code != 0 and "--from is the old name of --input-format" in str(result.exception.hint)


def test_convert_with_column_mapping(tmp_path):
    out = tmp_path / "qa.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / "qa.csv"), str(out),
                                 "--column", "instruction=question", "--column", "output=answer",
                                 "--column", "input=context", "--source", "converted"])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 3 and records[0].source == "converted" and records[0].meta["extra"] == {"topic": "math"}


def test_convert_skip_reports_rejections(tmp_path):
    out = tmp_path / "ok.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / "broken_line2.jsonl"), str(out),
                                 "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 bad rows" in flat(result.output) and (tmp_path / "ok.rejected.jsonl").exists()


def test_inspect_tables_and_json(tmp_path):
    result = runner.invoke(app, ["data", "inspect", str(FIXTURES / "seed_tasks_sample.jsonl")], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for word in ("4 records", "3 tasks", "Lengths", "median", "p95", "sentiment", "zh", "empty"):
        assert word in flat(result.output)
    assert "Output lengths per category" in flat(result.output)
    result = runner.invoke(app, ["data", "inspect", str(FIXTURES / "seed_tasks_sample.jsonl"), "--json"])
    by_category = json.loads(result.output)["output_lengths_by_category"]
    assert sum(v["n"] for v in by_category.values()) == 4 and "sentiment" in by_category
    # 'seeds' names seedtune's own seed tasks, as in `generate` and `run`.
    result = runner.invoke(app, ["data", "inspect", "seeds", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output_lengths_by_category"]["dialogue"]["max"] > 100
    result = runner.invoke(app, ["data", "inspect", str(FIXTURES / "sharegpt.json"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["format"] == "sharegpt" and summary["count"] == 2 and summary["multi_turn"] == 1
    assert summary["languages"] == {"en": 1, "zh": 1} and summary["with_system"] == 1
    assert summary["lengths"]["output"]["max"] == 17  # 9 + 8 Han characters in the joke answer


def test_broken_input_exits_2_naming_line_2(monkeypatch, capsys, tmp_path):
    code, out, err = run_main(monkeypatch, capsys, "data", "convert", str(FIXTURES / "broken_line2.jsonl"),
                              str(tmp_path / "o.jsonl"))
    assert code == 2
    text = flat(err)
    assert "line 2" in text and "--on-error skip" in text and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_column_option_exits_2(monkeypatch, capsys, tmp_path):
    code, _, err = run_main(monkeypatch, capsys, "data", "inspect", str(FIXTURES / "qa.csv"), "--column", "question")
    assert code == 2 and "FIELD=COLUMN" in flat(err)


def test_help_lists_data_first_in_loop_order():
    import click
    import typer

    group = typer.main.get_command(app)
    names = group.list_commands(click.Context(group))
    assert names[0] == "data"
    loop = [n for n in ("data", "generate", "curate", "train", "eval", "run", "chat", "serve", "models") if n in names]
    assert [n for n in names if n in loop] == loop

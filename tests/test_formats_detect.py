"""Auto-detection from names and content, and the explicit override."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seedtune.errors import InputError
from seedtune.formats import detect_format, format_for_output, get_format, read_records, write_records
from seedtune.records import Record

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _write(path: Path, rows: list[dict], array: bool = False) -> Path:
    text = json.dumps(rows, ensure_ascii=False) if array else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name,rows,array,expected", [
    ("a.jsonl", [{"instruction": "x", "output": "y"}], False, "jsonl"),
    ("a.json", [{"instruction": "x", "output": "y"}], True, "alpaca"),
    ("a.json", [{"instruction": "x"}], False, "jsonl"),  # JSONL content in a .json name
    ("a.jsonl", [{"id": "t", "instruction": "x", "instances": [{"input": "", "output": "y"}]}], False, "seed_tasks"),
    ("a.json", [{"instruction": "x", "instances": [{"output": "y"}]}], True, "seed_tasks"),
    ("a.jsonl", [{"conversations": [{"from": "human", "value": "hi"}]}], False, "sharegpt"),
    ("a.json", [{"conversations": [{"from": "human", "value": "hi"}]}], True, "sharegpt"),
    ("a.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}], False, "messages"),
    ("a.json", [{"messages": [{"role": "user", "content": "hi"}]}], True, "messages"),
    # our own records carry `messages` too, but also `instruction`: still plain JSONL
    ("a.jsonl", [{"instruction": "hi", "messages": [{"role": "user", "content": "hi"}]}], False, "jsonl"),
    ("data", [{"instruction": "x"}], False, "jsonl"),  # no extension: content decides
])
def test_detect_json_family(tmp_path, name, rows, array, expected):
    assert detect_format(_write(tmp_path / name, rows, array)) == expected


def test_detect_fixtures():
    assert detect_format(FIXTURES / "sharegpt.json") == "sharegpt"
    assert detect_format(FIXTURES / "messages.jsonl") == "messages"
    assert detect_format(FIXTURES / "qa.csv") == "csv"
    assert detect_format(FIXTURES / "seed_tasks_sample.jsonl") == "seed_tasks"


def test_detect_binary_and_folder_formats(tmp_path):
    recs = [Record(instruction="x", output="y")]
    write_records(tmp_path / "t.parquet", recs)
    write_records(tmp_path / "t.tsv", recs)
    write_records(tmp_path / "ds", recs)
    assert detect_format(tmp_path / "t.parquet") == "parquet"
    assert detect_format(tmp_path / "t.tsv") == "tsv"
    assert detect_format(tmp_path / "ds") == "hf"


def test_unknown_and_missing(tmp_path):
    (tmp_path / "notes.txt").write_text("just some words\n")
    with pytest.raises(InputError, match="--input-format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="not found"):
        read_records(tmp_path / "nope.jsonl")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="save_to_disk"):
        read_records(tmp_path / "folder")
    with pytest.raises(InputError, match="one of"):
        get_format("yaml")


def test_override_beats_detection(tmp_path):
    # A ShareGPT export saved with a .txt name reads with an explicit format.
    path = tmp_path / "export.txt"
    shutil.copy(FIXTURES / "sharegpt.json", path)
    records = read_records(path, format="sharegpt")
    assert records[0].system == "You are concise." and records[0].output == "7"
    assert get_format("ShareGPT").name == "sharegpt" and get_format("self-instruct").name == "seed_tasks"


def test_output_format_from_name(tmp_path):
    assert format_for_output(tmp_path / "x.jsonl") == "jsonl"
    assert format_for_output(tmp_path / "x.json") == "alpaca"
    assert format_for_output(tmp_path / "x.csv") == "csv"
    assert format_for_output(tmp_path / "x.parquet") == "parquet"
    assert format_for_output(tmp_path / "dataset") == "hf"
    with pytest.raises(InputError, match="--output-format"):
        format_for_output(tmp_path / "x.xlsx")


def test_fixture_chat_files_read():
    sg = read_records(FIXTURES / "sharegpt.json")
    assert sg[0].instruction == "Name a prime number." and sg[0].meta["extra"] == {"id": "conv_1"}
    assert sg[1].messages and sg[1].output == "为什么数学书很难过？因为它有太多问题。" and sg[1].lang == "zh"
    msgs = read_records(FIXTURES / "messages.jsonl")
    assert (msgs[0].system, msgs[0].instruction, msgs[0].output) == ("Answer in one word.", "Capital of France?", "Paris")
    assert msgs[1].instruction == "把“谢谢”翻译成英文"  # text parts joined

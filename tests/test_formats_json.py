"""JSONL and Alpaca JSON: round trips in English and Chinese, and located errors on bad rows."""

from __future__ import annotations

import json

import pytest

from seedtune.errors import InputError
from seedtune.formats import read_records, read_records_with_report, write_records
from seedtune.records import Record


def sample_records() -> list[Record]:
    return [
        Record(instruction="Translate to French.", input="Good morning", output="Bonjour",
               category="translation", task="translate_fr", source="seed"),
        Record(instruction="把这句话翻译成英文。", input="今天天气很好。", output="The weather is nice today.",
               category="translation", lang="zh", scores={"rouge": 0.5}, parent_ids=["abc"], round=2,
               meta={"method": "evol"}),
        Record(instruction="写一首关于秋天的短诗。", output="秋风起，落叶黄。", system="你是一位诗人。"),
        Record(instruction="Hi", messages=[{"role": "user", "content": "Hi"},
                                            {"role": "assistant", "content": "Hello!"},
                                            {"role": "user", "content": "你好吗？"},
                                            {"role": "assistant", "content": "我很好。"}], output="我很好。"),
    ]


def test_jsonl_round_trip_is_exact(tmp_path):
    records = sample_records()
    assert write_records(tmp_path / "r.jsonl", records) == 4
    assert read_records(tmp_path / "r.jsonl") == records
    # Chinese stays readable in the file (no \\u escapes).
    assert "秋风起" in (tmp_path / "r.jsonl").read_text(encoding="utf-8")


def test_alpaca_round_trip_keeps_content(tmp_path):
    records = sample_records()
    write_records(tmp_path / "a.json", records)
    data = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert isinstance(data, list) and data[0] == {"instruction": "Translate to French.", "input": "Good morning",
                                                  "output": "Bonjour"}
    assert data[3]["history"] == [["Hi", "Hello!"]] and data[3]["instruction"] == "你好吗？"
    back = read_records(tmp_path / "a.json")
    assert [r.conversation() for r in back] == [r.conversation() for r in records]
    assert [(r.instruction, r.input, r.output) for r in back[:3]] == [(r.instruction, r.input, r.output) for r in records[:3]]


def test_alpaca_with_provenance_round_trips_exactly(tmp_path):
    records = sample_records()
    write_records(tmp_path / "a.json", records, provenance=True)
    assert read_records(tmp_path / "a.json") == records


def test_broken_second_line_names_line_2(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n'
                    '{"instruction": "d"}\n', encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(InputError) as info:
        read_records(path)
    err = info.value
    assert err.line == 2 and err.path == str(path)
    assert "line 2" in str(err) and "--on-error skip" in str(err)
    assert path.read_bytes() == before


def test_missing_field_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"instruction": "a"}\n{"question": "b", "output": "c"}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(path)
    assert info.value.line == 2 and info.value.field == "instruction"
    assert "question" in str(info.value)  # says which keys the row has


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"instruction": "a", "output": ["x", "y"]}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(path)
    assert info.value.line == 1 and info.value.field == "output" and "expected text" in str(info.value)


def test_alpaca_array_error_names_record_index(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "a"}, {"instruction": "b"}, {"input": "no instruction"}]))
    with pytest.raises(InputError) as info:
        read_records(path)
    assert info.value.index == 2 and info.value.field == "instruction" and "record 2" in str(info.value)


def test_alpaca_syntax_error_is_fatal_even_when_skipping(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n{"instruction": "a"},\n{"instruction": }\n]\n')
    with pytest.raises(InputError) as info:
        read_records(path, on_error="skip")
    assert info.value.line == 3


def test_skip_writes_side_file_and_counts(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"instruction": "ok 1"}\nnot json\n{"instruction": "ok 2"}\n{"instruction": ""}\n'
                    '{"output": "no instruction"}\n', encoding="utf-8")
    unasked = read_records_with_report(path, on_error="skip")
    assert unasked.n_rejected == 3 and unasked.rejected_path is None and not list(tmp_path.glob("*rejected*"))
    report = read_records_with_report(path, on_error="skip", rejected_path=tmp_path / "mixed.rejected.jsonl")
    assert [r.instruction for r in report.records] == ["ok 1", "ok 2"]
    assert report.n_rejected == 3
    assert report.rejected_path == tmp_path / "mixed.rejected.jsonl"
    side = [json.loads(x) for x in report.rejected_path.read_text(encoding="utf-8").splitlines()]
    assert [s["line"] for s in side] == [2, 4, 5]
    assert side[0]["raw"] == "not json" and side[1]["field"] == "instruction"
    assert all(s["reason"] for s in side)


def test_unknown_keys_kept_in_meta_and_aliases_read(tmp_path):
    path = tmp_path / "dolly.jsonl"
    path.write_text(json.dumps({"instruction": "Summarise", "context": "Long text", "response": "Short",
                                "category": "summarization", "text": "whole prompt"}) + "\n")
    (rec,) = read_records(path)
    assert (rec.input, rec.output, rec.category) == ("Long text", "Short", "summarization")
    assert rec.meta["extra"] == {"text": "whole prompt"}


def test_column_mapping_and_default_source(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "2+2?", "answer": "4"}) + "\n")
    (rec,) = read_records(path, columns={"instruction": "question", "output": "answer"}, source="converted")
    assert (rec.instruction, rec.output, rec.source) == ("2+2?", "4", "converted")
    with pytest.raises(InputError) as info:
        read_records(path, columns={"instruction": "prompt"})
    assert info.value.field == "prompt"


def test_unknown_option_is_an_error(tmp_path):
    write_records(tmp_path / "r.jsonl", sample_records())
    with pytest.raises(InputError, match="split"):
        read_records(tmp_path / "r.jsonl", split="train")


def test_alpaca_history_read_and_checked(tmp_path):
    path = tmp_path / "lf.json"
    path.write_text(json.dumps([
        {"instruction": "And 3+3?", "input": "", "output": "6", "history": [["2+2?", "4"]]},
        {"instruction": "plain", "input": "", "output": "x", "history": []},
        {"instruction": "bad", "output": "y", "history": [["only one"]]},
    ]), encoding="utf-8")
    report = read_records_with_report(path, on_error="skip", rejected_path=tmp_path / "rej.jsonl")
    first, second = report.records
    assert [m.content for m in first.messages] == ["2+2?", "4", "And 3+3?", "6"]
    assert (first.instruction, first.output) == ("2+2?", "6")
    assert second.messages is None and second.meta == {}
    assert report.rejected[0].index == 2 and report.rejected[0].field == "history[0]"


def test_required_records_name_what_is_missing_or_empty(tmp_path):
    from seedtune.formats import read_required_records

    with pytest.raises(InputError, match="training data file not found") as missing:
        read_required_records(tmp_path / "nope.jsonl", "training data", missing_hint="pass --data", empty_hint="-")
    assert "nope.jsonl" in str(missing.value) and "pass --data" in str(missing.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="no records in the input") as nothing:
        read_required_records(empty, "input", missing_hint="-", empty_hint="add an instruction")
    assert "add an instruction" in str(nothing.value) and empty.read_text() == "\n"


@pytest.mark.parametrize("row, field, words", [
    ({"conversations": "hi"}, "conversations", "list of {from, value}"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]}, "conversations[1].from",
     "unknown speaker 'robot'"),
    ({"conversations": [{"from": "human", "value": 3}]}, "conversations[0].value", "expected text"),
    ({"messages": [{"role": "user", "content": "q"}, "a"]}, "messages[1]", "{role, content} object"),
    ({"messages": [{"role": "tool", "content": "q"}]}, "messages[0].role", "tool calls"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content[0]", "text parts"),
])
def test_chat_turn_errors_name_the_turn_and_field(tmp_path, row, field, words):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    fmt = "sharegpt" if "conversations" in row else "messages"
    with pytest.raises(InputError) as err:
        read_records(path, format=fmt)
    assert err.value.field == field and words in str(err.value) and err.value.line == 1

"""CSV/TSV column mapping and line numbers; Parquet and saved-dataset rows located by index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedtune.errors import InputError
from seedtune.formats import convert, read_records, read_records_with_report, write_records
from seedtune.records import Record

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def test_csv_column_mapping():
    records = read_records(FIXTURES / "qa.csv", columns={"instruction": "question", "input": "context",
                                                         "output": "answer", "category": "topic"})
    assert [(r.instruction, r.input, r.output, r.category) for r in records] == [
        ("What is 2+2?", "", "4", "math"),
        ("Summarise:", "Line one,\nline two.", "Two lines.", "summary"),
        ("用一句话介绍长城。", "", "长城是中国古代修建的防御工事。", "history"),
    ]
    assert records[2].lang == "zh"


def test_csv_without_mapping_names_instruction_and_the_columns(tmp_path):
    with pytest.raises(InputError) as info:
        read_records(FIXTURES / "qa.csv")
    assert info.value.line == 2 and info.value.field == "instruction" and "question" in str(info.value)


def test_csv_error_line_counts_multiline_cells(tmp_path):
    # Header is line 1; the second record spans lines 3-4, so the bad third record starts on line 5.
    path = tmp_path / "r.csv"
    path.write_text('instruction,output,round\nA,1,1\nB,"two\nlines",2\nC,3,three\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(path)
    assert (info.value.line, info.value.field) == (5, "round") and "whole number" in str(info.value)
    report = read_records_with_report(path, on_error="skip")
    assert [r.output for r in report.records] == ["1", "two\nlines"]
    assert report.rejected[0].raw == {"instruction": "C", "output": "3", "round": "three"}


def test_csv_write_renames_columns_and_picks_fields(tmp_path):
    recs = [Record(instruction="Q1", output="A1", category="c"), Record(instruction="问题", output="答案")]
    write_records(tmp_path / "o.csv", recs, columns={"instruction": "question", "output": "answer"},
                  fields=["instruction", "output", "category"])
    lines = (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()
    assert lines == ["question,answer,category", "Q1,A1,c", "问题,答案,"]
    back = read_records(tmp_path / "o.csv", columns={"instruction": "question", "output": "answer"})
    assert [(r.instruction, r.output, r.category) for r in back] == [("Q1", "A1", "c"), ("问题", "答案", None)]


def test_tsv_and_bad_json_cell(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("instruction\toutput\tscores\nA\tB\t{\"x\": 1}\nC\tD\t{not json\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(path)
    assert (info.value.line, info.value.field) == (3, "scores")


def test_csv_more_cells_than_header(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("instruction,output\nA,B,C\n", encoding="utf-8")
    with pytest.raises(InputError, match="more cells") as info:
        read_records(path)
    assert info.value.line == 2


def test_parquet_bad_row_names_index_and_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"instruction": ["a", "b", "c"], "output": ["x", "y", "z"], "round": [1, 2, 3],
                      "source": ["seed", "robot", "seed"]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(InputError) as info:
        read_records(tmp_path / "t.parquet")
    assert (info.value.index, info.value.field) == (1, "source") and "record 1" in str(info.value)
    report = read_records_with_report(tmp_path / "t.parquet", on_error="skip", rejected_path=tmp_path / "t.rejected.jsonl")
    assert report.n_records == 2 and report.rejected_path == tmp_path / "t.rejected.jsonl"
    side = json.loads(report.rejected_path.read_text().splitlines()[0])
    assert side["index"] == 1 and side["raw"]["source"] == "robot"


def test_parquet_with_foreign_chat_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"conversations": [[{"from": "human", "value": "你好"}, {"from": "gpt", "value": "您好"}]],
                      "lang_hint": ["zh"]})
    pq.write_table(table, tmp_path / "sg.parquet")
    (rec,) = read_records(tmp_path / "sg.parquet")
    assert (rec.instruction, rec.output, rec.meta["extra"]) == ("你好", "您好", {"lang_hint": "zh"})


def test_hf_dataset_dict_needs_a_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"instruction": "a", "output": "b"}]),
        "test": datasets.Dataset.from_list([{"instruction": "c", "output": "d"}, {"instruction": "e", "output": "f"}]),
    })
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InputError, match="train, test") as info:
        read_records(tmp_path / "dd")
    assert info.value.field == "split"
    assert [r.instruction for r in read_records(tmp_path / "dd", split="test")] == ["c", "e"]


def test_convert_csv_to_alpaca_with_mapping(tmp_path):
    result = convert(FIXTURES / "qa.csv", tmp_path / "qa.json", columns={"instruction": "question",
                     "input": "context", "output": "answer"}, read_options={"source": "converted"})
    assert (result.from_format, result.to_format, result.n_read, result.n_written) == ("csv", "alpaca", 3, 3)
    data = json.loads((tmp_path / "qa.json").read_text(encoding="utf-8"))
    assert data[1] == {"instruction": "Summarise:", "input": "Line one,\nline two.", "output": "Two lines."}


def test_convert_refuses_to_overwrite_input(tmp_path):
    path = tmp_path / "r.jsonl"
    write_records(path, [Record(instruction="a")])
    before = path.read_bytes()
    with pytest.raises(InputError, match="refusing"):
        convert(path, tmp_path / "." / "r.jsonl")
    assert path.read_bytes() == before


def test_convert_skip_puts_side_file_next_to_output(tmp_path):
    out = tmp_path / "out" / "clean.parquet"
    result = convert(FIXTURES / "broken_line2.jsonl", out, on_error="skip")
    assert (result.n_read, result.n_rejected) == (2, 1)
    assert result.rejected_path == tmp_path / "out" / "clean.rejected.jsonl"
    assert json.loads(result.rejected_path.read_text())["line"] == 2
    assert not (FIXTURES / "broken_line2.rejected.jsonl").exists()
    assert [r.instruction for r in read_records(out)] == ["Say hi", "Fine"]


@pytest.mark.parametrize("name", ["rows.csv", "rows.jsonl"])
def test_read_rows_not_utf8_is_located_with_what_to_do(tmp_path, name):
    from seedtune.formats import read_rows

    path = tmp_path / name
    text = "text,label\nok,1\ncaf\xe9,0\n" if name.endswith(".csv") else '{"text": "ok"}\n{"text": "caf\xe9"}\n'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError) as err:
        read_rows(path)
    assert name in str(err.value) and "not UTF-8" in str(err.value) and "UTF-8" in err.value.hint
    assert err.value.line == (3 if name.endswith(".csv") else 2)

"""Self-Instruct seed tasks: 175 tasks in, 175 records, 175 tasks back out; located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedtune.errors import InputError
from seedtune.formats import read_records, read_records_with_report, write_records

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def synthetic_seed_file(path: Path, n: int = 175) -> list[dict]:
    """Same schema as Self-Instruct's public seed_tasks.jsonl: 175 tasks, one instance each."""
    tasks = []
    for i in range(n):
        zh = i % 4 == 0
        tasks.append({
            "id": f"seed_task_{i}",
            "name": f"task_name_{i}",
            "instruction": f"第{i}个任务：请回答问题。" if zh else f"Task number {i}: answer the question below.",
            "instances": [{"input": "" if i % 3 else f"input {i}", "output": f"答案 {i}" if zh else f"answer {i}"}],
            "is_classification": i % 5 == 0,
        })
    path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tasks), encoding="utf-8")
    return tasks


def test_175_tasks_become_175_records_and_back(tmp_path):
    src = tmp_path / "seed_tasks.jsonl"
    tasks = synthetic_seed_file(src)
    records = read_records(src)
    assert len(records) == 175
    assert records[7].task == "task_name_7" and records[7].meta["seed_task_id"] == "seed_task_7"
    assert records[0].source == "seed" and records[0].is_classification is True and records[0].lang == "zh"
    assert write_records(tmp_path / "out.jsonl", records, format="seed_tasks") == 175
    back = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(back) == 175
    for original, written in zip(tasks, back):
        assert {k: written[k] for k in original} == original  # id, name, instruction, instances, flag


def test_instances_grouped_by_task_and_extra_keys_kept(tmp_path):
    records = read_records(FIXTURES / "seed_tasks_sample.jsonl")
    assert len(records) == 4
    zh = [r for r in records if r.task == "zh_sentiment"]
    assert [r.output for r in zh] == ["负面", "正面"] and zh[0].category == "sentiment" and zh[0].lang == "zh"
    write_records(tmp_path / "back.jsonl", records, format="seed_tasks")
    lines = (tmp_path / "back.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and len(json.loads(lines[2])["instances"]) == 2
    # keys beyond the Self-Instruct schema (e.g. a suite's metric and labels) survive a round trip
    src = tmp_path / "suite.jsonl"
    src.write_text(json.dumps({"id": "s0", "name": "sent", "instruction": "Label it.", "metric": "accuracy",
                               "labels": ["pos", "neg"], "instances": [{"input": "good", "output": "pos"}],
                               "is_classification": True}) + "\n")
    (rec,) = read_records(src)
    assert rec.meta["extra"] == {"metric": "accuracy", "labels": ["pos", "neg"]}
    write_records(tmp_path / "suite2.jsonl", [rec], format="seed_tasks")
    again = json.loads((tmp_path / "suite2.jsonl").read_text())
    assert again["metric"] == "accuracy" and again["labels"] == ["pos", "neg"]


def test_plain_records_write_as_one_task_per_instruction(tmp_path):
    from seedtune.records import Record

    recs = [Record(instruction="Add the numbers.", input="1 2", output="3"),
            Record(instruction="Add the numbers.", input="2 2", output="4"),
            Record(instruction="Name a colour.", output="blue")]
    assert write_records(tmp_path / "s.jsonl", recs, format="seed_tasks") == 2
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["name"] for r in rows] == ["add_the_numbers", "name_a_colour"]
    assert len({r["id"] for r in rows}) == 2


@pytest.mark.parametrize("task,field", [
    ({"id": "t", "instruction": "x", "instances": []}, "instances"),
    ({"id": "t", "instruction": "x", "instances": [{"input": "a", "output": "b"}, {"input": "a"}]}, "instances[1].output"),
    ({"id": "t", "instruction": "x", "instances": [{"input": ["a"], "output": "b"}]}, "instances[0].input"),
    ({"id": "t", "instances": [{"output": "b"}]}, "instruction"),
    ({"id": "t", "instruction": "x", "instances": [{"output": "b"}], "is_classification": "yes"}, "is_classification"),
])
def test_bad_task_names_the_field(tmp_path, task, field):
    path = tmp_path / "seed_tasks.jsonl"
    good = {"id": "ok", "instruction": "fine", "instances": [{"input": "", "output": "y"}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(task) + "\n")
    with pytest.raises(InputError) as info:
        read_records(path, format="seed_tasks")
    assert info.value.line == 2 and info.value.field == field
    report = read_records_with_report(path, format="seed_tasks", on_error="skip")
    assert report.n_records == 1 and report.n_rejected == 1 and report.rejected[0].field == field


def test_multi_turn_records_cannot_be_seed_tasks(tmp_path):
    from seedtune.records import Record

    rec = Record(instruction="a", messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                            {"role": "user", "content": "c"}])
    with pytest.raises(InputError, match="multi-turn"):
        write_records(tmp_path / "s.jsonl", [rec], format="seed_tasks")
    assert not (tmp_path / "s.jsonl").exists()


def test_shipped_seed_tasks_read():
    from importlib import resources

    path = Path(str(resources.files("seedtune.data") / "seed_tasks.jsonl"))
    records = read_records(path)
    tasks = {r.task for r in records}
    assert len(tasks) >= 150 and all(r.category for r in records)

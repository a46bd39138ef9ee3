"""Self-Instruct `seed_tasks.jsonl`: one task per line, several instances per task.

Each line is `{"id", "name", "instruction", "instances": [{"input", "output"}],
"is_classification"}` (the layout of the Self-Instruct repository's seed file); our own seed
files add `category` and `lang`. Reading yields one record per instance with `task` = the
task's name (its id when unnamed), `source="seed"` and the task id in `meta["seed_task_id"]`;
writing groups instances by task back into one line each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext, RowError
from seedtune.formats.jsonrows import converted, iter_rows, wants_array, write_rows
from seedtune.formats.mapping import apply_columns, validate_record
from seedtune.records import Record

TASK_KEYS = ("id", "name", "instruction", "instances", "is_classification", "category", "lang")


def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    tasks = converted(iter_rows(path, ctx), ctx,
                      lambda value: task_to_records(value, columns=opts.get("columns"), source=opts.get("source")))
    records = [record for task in tasks for record in task]
    return records


def task_to_records(task: Any, *, columns: Any = None, source: str | None = None) -> list[Record]:
    """One seed task -> one record per instance (a RowError names the bad field, e.g. instances[2].output)."""
    if not isinstance(task, dict):
        raise RowError(f"expected a task object, got {type(task).__name__}")
    task = apply_columns(task, columns)
    for key in ("instruction", "id", "name", "category", "lang"):
        if task.get(key) is not None and not isinstance(task[key], str):
            raise RowError(f"expected text, got {type(task[key]).__name__}", field=key)
    if not (task.get("instruction") or "").strip():
        raise RowError("missing or empty; every seed task needs an instruction", field="instruction")
    instances = task.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RowError("expected a non-empty list of {input, output} objects", field="instances")
    flag = task.get("is_classification")
    if flag is not None and not isinstance(flag, bool):
        raise RowError(f"expected true or false, got {flag!r}", field="is_classification")
    task_id, name = task.get("id"), task.get("name")
    meta: dict[str, Any] = {}
    if task_id:
        meta["seed_task_id"] = task_id
    extra = {k: v for k, v in task.items() if k not in TASK_KEYS}
    if extra:
        meta["extra"] = extra
    records = []
    for i, inst in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(inst, dict):
            raise RowError(f"expected an {{input, output}} object, got {type(inst).__name__}", field=where)
        if "output" not in inst:
            raise RowError("missing", field=f"{where}.output")
        for key in ("input", "output"):
            if inst.get(key) is not None and not isinstance(inst[key], str):
                raise RowError(f"expected text, got {type(inst[key]).__name__}", field=f"{where}.{key}")
        data = {"instruction": task["instruction"], "input": inst.get("input") or "", "output": inst["output"],
                "source": source or "seed", "task": name or task_id, "category": task.get("category"),
                "lang": task.get("lang"), "is_classification": flag, "meta": dict(meta)}
        try:
            records.append(validate_record(data))
        except RowError as err:
            raise RowError(err.message, field=err.field if err.field in ("lang", "category") else where) from None
    return records


def records_to_tasks(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Group instances into tasks by (task, instruction), in order of first appearance."""
    groups: dict[tuple[str | None, str], list[Record]] = {}
    for index, rec in enumerate(records):
        if rec.messages:
            raise InputError("is a multi-turn conversation; Self-Instruct seed tasks hold single turns",
                             index=index, field="messages", hint="write it as jsonl, sharegpt or messages")
        groups.setdefault((rec.task, rec.instruction), []).append(rec)
    tasks: list[dict[str, Any]] = []
    used_ids: set[str] = set()
    used_names: set[str] = set()
    for number, ((task_name, instruction), recs) in enumerate(groups.items()):
        ids = {r.meta.get("seed_task_id") for r in recs}
        task_id = ids.pop() if len(ids) == 1 else None
        if not task_id or task_id in used_ids:
            task_id = _unique(f"seed_task_{number}", used_ids)
        used_ids.add(task_id)
        name = _unique(task_name or _slug(instruction) or f"task_{number}", used_names)
        used_names.add(name)
        first = recs[0]
        out: dict[str, Any] = {"id": task_id, "name": name, "instruction": instruction,
                               "instances": [{"input": r.input, "output": r.output} for r in recs],
                               "is_classification": any(bool(r.is_classification) for r in recs)}
        category = next((r.category for r in recs if r.category), None)
        if category:
            out["category"] = category
        if first.lang:
            out["lang"] = first.lang
        extra = first.meta.get("extra")
        if isinstance(extra, dict):
            for key, value in extra.items():
                out.setdefault(key, value)
        tasks.append(out)
    return tasks


def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    """Writes one line per task; returns the number of tasks written."""
    return write_rows(path, records_to_tasks(records), as_array=wants_array(path, opts))


def _slug(text: str, words: int = 4) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", text.lower())[:words])


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}_{n}", n + 1
    return candidate

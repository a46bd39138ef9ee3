"""Evaluation suites: a `Suite` of `Task`s, each with instances and the metric that scores it.

One loader reads every format people evaluate instruction-tuned models on, so a run never needs
a hand-written adapter per benchmark:

- `heldout`: seedtune's own held-out suite (Self-Instruct layout + category, lang, metric, labels);
- Self-Instruct seed / human-eval files (`user_oriented_instructions.jsonl`: id, motivation_app,
  instruction, instances);
- `heldout-if` and `ifeval:PATH`: verifiable-instruction prompts in IFEval's layout (`read_ifeval`),
  scored by constraint checkers (`evaluate/instructions.py`);
- Super-NaturalInstructions task JSON (Definition, Positive Examples, Instances with list outputs);
- any record file `seedtune.formats.read_records` understands; records are grouped into tasks by
  their `task` field (else each distinct instruction is one task).

Line-per-task files are read with `seedtune.formats.read_rows`, the one located row reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedtune.data import METRICS, heldout_if_path, heldout_suite_path, metric_name
from seedtune.errors import InputError
from seedtune.formats.base import ReadContext
from seedtune.formats.jsonrows import Row
from seedtune.formats.rows import read_rows
from seedtune.io import read_text
from seedtune.textsim import detect_lang
from seedtune.verifiable import Constraint, ConstraintError, is_heldout, make_constraint

# METRICS, the one metric list, lives with the shipped data. "judge": open-ended tasks scored by
# the LLM judge's 1-10 rating (rescaled to [0, 1]); without a judge they fall back to ROUGE-L.
# VERIFIABLE tasks (heldout-if, ifeval:PATH) have no references: checkers score their answers
# (`evaluate/instructions.py`); a suite file cannot ask for it, so it is not in METRICS.
VERIFIABLE = "verifiable"


@dataclass
class Instance:
    """One question of a task: the input and one or more acceptable reference outputs."""

    id: str
    input: str
    references: list[str]
    instruction: str = ""  # set when instances of one task carry their own instruction
    # Verifiable-instruction prompts: the constraints ({"id", "kwargs"}) a checker scores the answer by.
    constraints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Task:
    """A task the model must solve from its instruction alone (zero-shot) or with demonstrations."""

    id: str
    instruction: str
    instances: list[Instance]
    category: str = "general"
    lang: str = "en"
    metric: str = "rouge_l"
    labels: list[str] = field(default_factory=list)
    # Demonstrations that belong to the task but are not test instances (SuperNI Positive Examples).
    demos: list[Instance] = field(default_factory=list)

    @property
    def is_classification(self) -> bool:
        return bool(self.labels)

    def instruction_for(self, instance: Instance) -> str:
        return instance.instruction or self.instruction


@dataclass
class Suite:
    name: str
    tasks: list[Task]
    source: str = ""
    skipped: list[dict[str, Any]] = field(default_factory=list)  # bad lines left out (on_error="skip")

    def limited(self, per_task: int | None) -> "Suite":
        """The first `per_task` instances of every task (the same ones for every model and mode)."""
        if not per_task:
            return self
        tasks = [Task(**{**t.__dict__, "instances": t.instances[:per_task]}) for t in self.tasks]
        return Suite(self.name, tasks, self.source, self.skipped)

    @property
    def verifiable(self) -> bool:
        """Scored by constraint checkers (heldout-if, ifeval:PATH), not against references."""
        return bool(self.tasks) and all(t.metric == VERIFIABLE for t in self.tasks)

    @property
    def n_instances(self) -> int:
        return sum(len(t.instances) for t in self.tasks)

    def categories(self) -> list[str]:
        return sorted({t.category for t in self.tasks})


def verifiable_name(name: str) -> bool:
    """Whether a suite name denotes a verifiable-instruction suite (scored by checkers)."""
    return str(name) == "heldout-if" or str(name).startswith("ifeval:")


def load_suite(name_or_path: str | Path, *, on_error: str = "raise") -> Suite:
    """Read a suite by name (`heldout`, `heldout-if`), an IFEval file (`ifeval:PATH`), or a file
    in any of the other supported layouts. `on_error="skip"` skips bad lines of IFEval files."""
    if str(name_or_path) == "heldout-if":
        return read_ifeval(heldout_if_path(), name="heldout-if", on_error=on_error)
    if str(name_or_path).startswith("ifeval:"):
        path = str(name_or_path)[len("ifeval:"):]
        return read_ifeval(path, name=f"ifeval:{Path(path).stem}", on_error=on_error)
    if str(name_or_path) == "heldout":
        path = Path(heldout_suite_path())
        return Suite("heldout", _self_instruct_tasks(_suite_rows(path), path), str(path))
    path = Path(name_or_path)
    if not path.exists():
        raise InputError("suite file not found", path=path,
                         hint="use --suite heldout, or a path to a .json/.jsonl suite file")
    if path.is_dir():
        tasks = [t for p in sorted(path.glob("*.json")) for t in _load_file(p)]
        if not tasks:
            raise InputError("no task JSON files in this folder", path=path)
        return Suite(path.name, _checked(tasks, path), str(path))
    return Suite(path.stem, _checked(_load_file(path), path), str(path))


def _checked(tasks: list[Task], path: Path) -> list[Task]:
    """An empty suite would "pass" with no scores, and two tasks with one id would be merged in
    the scores: both are refused."""
    if not tasks or not any(t.instances for t in tasks):
        raise InputError("the suite has no tasks (or no instances): there is nothing to evaluate", path=path,
                         hint="check the file; use --suite heldout for the built-in suite")
    seen: dict[str, Task] = {}
    for task in tasks:
        if task.id in seen:
            raise InputError(f"two tasks have the id {task.id!r}; their scores would be merged", path=path,
                             field="id", hint="give every task its own id (or name)")
        seen[task.id] = task
    return tasks


def _load_file(path: Path) -> list[Task]:
    text = read_text(path, "suite file")
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        if "Definition" in data and "Instances" in data:
            return [_superni_task(data, path)]
        raise InputError("a JSON object that is not a Super-NaturalInstructions task", path=path,
                         hint="expected keys Definition, Positive Examples, Instances")
    if path.suffix in (".jsonl", ".json") and stripped.startswith("{"):
        rows = _suite_rows(path)
        if rows and "instances" in rows[0].value:
            return _self_instruct_tasks(rows, path)
    return _record_tasks(path)


def _suite_rows(path: Path) -> list[Row]:
    return read_rows(path, ReadContext(path, hint="each line must be one JSON object; fix that line"))


def _self_instruct_tasks(rows: list[Row], path: Path) -> list[Task]:
    """Self-Instruct seed tasks / human-eval rows: one row = one task with its instances."""
    tasks = []
    for located in rows:
        row, line = located.value, located.line
        instruction = row.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("missing or empty instruction", path=path, line=line, field="instruction")
        raw_instances = row.get("instances")
        if not isinstance(raw_instances, list) or not raw_instances:
            raise InputError("a task needs a non-empty list of instances", path=path, line=line, field="instances")
        task_id = str(row.get("id") or row.get("name") or f"task_{line}")
        instances = []
        for i, inst in enumerate(raw_instances):
            if not isinstance(inst, dict) or "output" not in inst:
                raise InputError(f"instance {i} needs an 'output'", path=path, line=line, field="instances")
            refs = inst["output"] if isinstance(inst["output"], list) else [inst["output"]]
            instances.append(Instance(id=f"{task_id}/{i}", input=str(inst.get("input") or ""),
                                      references=[str(r) for r in refs]))
        labels = [str(x) for x in row.get("labels") or []]
        if not labels and row.get("is_classification"):
            labels = sorted({r for inst in instances for r in inst.references})
        category = row.get("category") or row.get("motivation_app") or "general"
        tasks.append(Task(
            id=task_id, instruction=instruction.strip(), instances=instances, category=str(category),
            lang=str(row.get("lang") or detect_lang(instruction)),
            metric=_metric(row.get("metric"), labels, category, path, line), labels=labels,
        ))
    return tasks


def _superni_task(data: dict[str, Any], path: Path) -> Task:
    definition = data["Definition"]
    definition = " ".join(definition) if isinstance(definition, list) else str(definition)
    categories = data.get("Categories") or ["general"]
    category = str(categories[0] if isinstance(categories, list) else categories)
    if not isinstance(data["Instances"], list) or not all(isinstance(i, dict) for i in data["Instances"]):
        raise InputError(f"'Instances' must be a list of objects with input and output, got "
                         f"{type(data['Instances']).__name__}", path=path, field="Instances",
                         hint="see a Super-NaturalInstructions task file for the layout")
    instances = [
        Instance(id=str(inst.get("id", f"{path.stem}-{i}")), input=str(inst.get("input", "")),
                 references=[str(o) for o in (inst["output"] if isinstance(inst.get("output"), list) else [inst.get("output", "")])])
        for i, inst in enumerate(data["Instances"])
    ]
    demos = [Instance(id=f"{path.stem}/pos{i}", input=str(ex.get("input", "")), references=[str(ex.get("output", ""))])
             for i, ex in enumerate(data.get("Positive Examples") or [])]
    lang_field = data.get("Output_language") or data.get("Input_language") or []
    lang = "zh" if any("chinese" in str(x).lower() for x in lang_field) else detect_lang(definition)
    labels: list[str] = []
    if "classification" in category.lower():
        labels = sorted({r for inst in instances for r in inst.references})
    return Task(id=path.stem, instruction=definition.strip(), instances=instances, category=category, lang=lang,
                metric=_metric(None, labels, category, path, None), labels=labels, demos=demos)


def _record_tasks(path: Path) -> list[Task]:
    """Any record file: group by `task`, else by instruction; each record is one instance."""
    from seedtune.formats import read_records

    records = read_records(path)
    groups: dict[str, list[Any]] = {}
    for rec in records:
        groups.setdefault(rec.task or rec.instruction, []).append(rec)
    tasks = []
    for n, (key, recs) in enumerate(groups.items()):
        task_id = recs[0].task or f"{path.stem}-{n}"
        metric = recs[0].meta.get("metric") if recs[0].meta else None
        labels = [str(x) for x in (recs[0].meta or {}).get("labels", [])]
        if not labels and recs[0].is_classification:
            labels = sorted({r.output for r in recs})
        tasks.append(Task(
            id=task_id, instruction=recs[0].instruction,
            instances=[Instance(id=r.id, input=r.input, references=[r.output], instruction=r.instruction) for r in recs],
            category=recs[0].category or "general", lang=recs[0].lang or "en",
            metric=_metric(metric, labels, recs[0].category or "", path, None), labels=labels,
        ))
    return tasks


def _metric(value: Any, labels: list[str], category: str, path: Path, line: int | None) -> str:
    """The task's metric as named, else the one default for every layout: accuracy with labels,
    chrF for translation (character-based, so it needs no tokenizer for Chinese), else ROUGE-L."""
    if value:
        name = metric_name(value)
        if name is None:
            raise InputError(f"unknown metric {value!r}", path=path, line=line, field="metric",
                             hint=f"use one of: {', '.join(METRICS)}")
        return name
    if labels:
        return "accuracy"
    if re.search(r"translat", str(category), re.I):
        return "chrf"
    return "rouge_l"


# -- verifiable-instruction suites (IFEval's input_data.jsonl layout) -----------------------------

_SKIP_HINT = "fix the line or pass --on-error skip to leave it out"


def read_ifeval(path: str | Path, *, name: str | None = None, on_error: str = "raise") -> Suite:
    """A suite from a file in IFEval's `input_data.jsonl` layout. A bad line (broken JSON, a
    missing field, an unknown instruction id, a kwarg of the wrong type) stops with its file,
    line and field; with `on_error="skip"` it is skipped and listed in `suite.skipped`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("IFEval file not found", path=path,
                         hint="download input_data.jsonl from the IFEval release and pass --suite ifeval:PATH")
    ctx = ReadContext(path, on_error, hint=f"each line must be one JSON object; {_SKIP_HINT}")
    tasks: list[Task] = []
    skipped = []
    for row in read_rows(path, ctx):
        try:
            tasks.append(_ifeval_task(row.value, path, row.line))
        except InputError as err:
            if on_error != "skip":
                raise
            skipped.append({"line": row.line, "field": err.field, "error": err.message})
    skipped += [{"line": r.line, "field": r.field, "error": r.reason} for r in ctx.rejected]
    if not tasks:
        raise InputError("no usable prompts in this file", path=path,
                         hint="each line needs key, prompt, instruction_id_list and kwargs")
    return Suite(name or path.stem, tasks, str(path), skipped=sorted(skipped, key=lambda s: s["line"] or 0))


def _ifeval_task(row: dict[str, Any], path: Path, lineno: int | None) -> Task:
    def bad(message: str, field: str, hint: str | None = None) -> InputError:
        return InputError(message, path=path, line=lineno, field=field, hint=hint or _SKIP_HINT)

    prompt, ids, kwargs = row.get("prompt"), row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad("missing or empty prompt", "prompt")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad("must be a non-empty list of instruction ids", "instruction_id_list")
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise bad(f"must be a list with one object per instruction id ({len(ids)})", "kwargs")
    constraints: list[Constraint] = []
    for i, (cid, kw) in enumerate(zip(ids, kwargs)):
        try:
            constraints.append(make_constraint(cid, kw))
        except ConstraintError as err:
            field = f"instruction_id_list[{i}]" if err.field == "instruction_id_list" else f"kwargs[{i}]{err.field[6:]}"
            raise bad(err.message, field, err.hint) from None
    key = str(row.get("key", lineno))
    lang = row.get("lang") if row.get("lang") in ("en", "zh") else detect_lang(prompt)
    split = "held-out" if any(is_heldout(c.id) for c in constraints) else "seen"
    instance = Instance(id=key, input="", references=[], constraints=[c.to_dict() for c in constraints])
    return Task(id=key, instruction=prompt, instances=[instance], category=split, lang=lang, metric=VERIFIABLE)

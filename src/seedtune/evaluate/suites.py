"""Evaluation suites: a `Suite` of `Task`s, each with instances and the metric that scores it.

One loader reads every format people evaluate instruction-tuned models on, so a run never needs
a hand-written adapter per benchmark:

- `heldout`: seedtune's own held-out suite (Self-Instruct layout + category, lang, metric, labels);
- Self-Instruct seed / human-eval files (`user_oriented_instructions.jsonl`: id, motivation_app,
  instruction, instances);
- `heldout-if` and `ifeval:PATH`: verifiable-instruction prompts in IFEval's layout, scored by
  constraint checkers (`evaluate/instructions.py`);
- Super-NaturalInstructions task JSON (Definition, Positive Examples, Instances with list outputs);
- any record file `seedtune.formats.read_records` understands; records are grouped into tasks by
  their `task` field (else each distinct instruction is one task).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedtune.errors import InputError, SeedtuneError
from seedtune.textsim import detect_lang

# "judge": open-ended tasks scored by the LLM judge's 1-10 rating (rescaled to [0, 1]); without a
# judge they fall back to ROUGE-L, and the row says so.
METRICS = ("rouge_l", "exact_match", "accuracy", "bleu", "chrf", "judge")
# "verifiable" tasks (heldout-if, ifeval:PATH) have no references: checkers score their answers.


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
        return bool(self.tasks) and all(t.metric == "verifiable" for t in self.tasks)

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
    if verifiable_name(str(name_or_path)):
        from seedtune.evaluate.instructions import heldout_if_path, read_ifeval

        if str(name_or_path) == "heldout-if":
            return read_ifeval(heldout_if_path(), name="heldout-if", on_error=on_error)
        path = str(name_or_path)[len("ifeval:"):]
        return read_ifeval(path, name=f"ifeval:{Path(path).stem}", on_error=on_error)
    if str(name_or_path) == "heldout":
        try:
            from seedtune.data import heldout_suite_path
        except ImportError as exc:
            raise SeedtuneError("the built-in 'heldout' suite is not available in this install",
                                hint="pass a suite file with --suite PATH") from exc
        path = Path(heldout_suite_path())
        return Suite("heldout", _self_instruct_tasks(_read_json_lines(path), path), str(path))
    path = Path(name_or_path)
    if not path.exists():
        raise InputError("suite file not found", path=path,
                         hint="use --suite heldout, or a path to a .json/.jsonl suite file")
    if path.is_dir():
        tasks = [t for p in sorted(path.glob("*.json")) for t in _load_file(p)]
        if not tasks:
            raise InputError("no task JSON files in this folder", path=path)
        return Suite(path.name, tasks, str(path))
    return Suite(path.stem, _load_file(path), str(path))


def _load_file(path: Path) -> list[Task]:
    text = path.read_text(encoding="utf-8")
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
        rows = _read_json_lines(path)
        if rows and "instances" in rows[0]:
            return _self_instruct_tasks(rows, path)
    return _record_tasks(path)


def json_object_line(line: str, path: Path, lineno: int, hint: str = "each line must be one JSON object") -> dict[str, Any]:
    """One JSONL line as a dict, or an InputError naming the file and line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=lineno, hint=hint) from None
    if not isinstance(row, dict):
        raise InputError("each line must be a JSON object", path=path, line=lineno, hint=hint)
    return row


def _read_json_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json_object_line(line, path, lineno)
        row["_line"] = lineno
        rows.append(row)
    return rows


def _self_instruct_tasks(rows: list[dict[str, Any]], path: Path) -> list[Task]:
    """Self-Instruct seed tasks / human-eval rows: one row = one task with its instances."""
    tasks = []
    for row in rows:
        line = row.get("_line")
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
    metric = "bleu" if "translation" in category.lower() else ("accuracy" if labels else "rouge_l")
    return Task(id=path.stem, instruction=definition.strip(), instances=instances, category=category, lang=lang,
                metric=metric, labels=labels, demos=demos)


def _record_tasks(path: Path) -> list[Task]:
    """Any record file: group by `task`, else by instruction; each record is one instance."""
    try:
        from seedtune.formats import read_records
    except ImportError as exc:  # the formats package is built alongside evaluation
        raise InputError("cannot read this file as a suite", path=path,
                         hint="use the Self-Instruct layout (instruction + instances) or a SuperNI task JSON") from exc
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
    if value:
        value = str(value).lower().replace("-", "_")
        value = {"rougel": "rouge_l", "rouge": "rouge_l", "em": "exact_match", "acc": "accuracy"}.get(value, value)
        if value not in METRICS:
            raise InputError(f"unknown metric {value!r}", path=path, line=line, field="metric",
                             hint=f"use one of: {', '.join(METRICS)}")
        return value
    if labels:
        return "accuracy"
    if re.search(r"translat", str(category), re.I):
        return "chrf"
    return "rouge_l"

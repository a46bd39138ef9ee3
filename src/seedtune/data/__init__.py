"""seedtune's own data, written for this project and shipped inside the package.

Two of the files are in the Self-Instruct `seed_tasks.jsonl` layout (one task per line:
`id`, `name`, `instruction`, `instances: [{input, output}]`, `is_classification`) plus our
fields `category` and `lang`:

- `seed_tasks.jsonl`: the seed tasks that start generation (and teach the student directly).
- `heldout_suite.jsonl`: unseen evaluation tasks, each with >= 5 instances with reference
  outputs, a `metric` saying how to score them and, for classification, the `labels`.

The third, `heldout_if.jsonl`, is the verifiable-instruction suite `heldout-if` in IFEval's
`input_data.jsonl` layout (`key`, `prompt`, `instruction_id_list`, `kwargs`) plus `lang` and
`split` (seen = training constraint families, held-out = families no training data uses).

The loaders return plain dicts on purpose: this module sits on the bottom floor and must not
depend on `seedtune.formats` (which turns these dicts into `Record`s). `check_tasks` holds the
schema of the shipped files in one place (the tests hold them to it); a user's suite is read by
`seedtune.evaluate.suites` (through `seedtune.formats.read_rows`), which is more lenient (other
layouts, no category list) but scores with the same `METRICS`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from seedtune.io import jsonl_lines, read_text

__all__ = [
    "METRICS",
    "METRIC_ALIASES",
    "metric_name",
    "CATEGORIES",
    "seed_tasks_path",
    "heldout_suite_path",
    "heldout_if_path",
    "load_seed_tasks",
    "load_heldout_suite",
    "check_tasks",
]

SEED_TASKS_FILE = "seed_tasks.jsonl"
HELDOUT_SUITE_FILE = "heldout_suite.jsonl"
HELDOUT_IF_FILE = "heldout_if.jsonl"

# How a suite task is scored: the one list of metric names (suites, the scorers and the schema
# check all use it). "accuracy" is for classification (answer must be one of `labels`),
# "exact_match" for short checkable answers (numbers, names, sorted lists), "rouge_l" for
# rewriting / summaries, "bleu" and "chrf" for translation, "judge" for open-ended answers.
METRICS = ("exact_match", "accuracy", "rouge_l", "bleu", "chrf", "judge")
# Spellings other tools use for the same metrics.
METRIC_ALIASES = {"rougel": "rouge_l", "rouge": "rouge_l", "em": "exact_match", "acc": "accuracy"}


def metric_name(value: Any) -> str | None:
    """The canonical name of a metric spelling ('ROUGE-L' -> 'rouge_l'), or None if unknown."""
    name = str(value).lower().replace("-", "_")
    name = METRIC_ALIASES.get(name, name)
    return name if name in METRICS else None

# The skills the shipped files cover; the suite uses a subset of the seeds' categories so that it
# tests unseen *tasks* on familiar *skills*.
CATEGORIES = (
    "translation",
    "open_qa",
    "closed_qa",
    "summarization",
    "sentiment",
    "classification",
    "code_generation",
    "code_understanding",
    "rewriting",
    "extraction",
    "math_reasoning",
    "brainstorming",
    "dialogue",
    "grammar_correction",
    "ordering",
    "definition",
)

_LANGS = ("en", "zh")


def _packaged(name: str) -> Path:
    # The package is always installed as files on disk (wheel or editable), so the traversable
    # is a real path; `Path(str(...))` keeps callers free of importlib.resources types.
    return Path(str(resources.files(__name__).joinpath(name)))


def seed_tasks_path() -> Path:
    """Path of the shipped seed tasks (Self-Instruct `seed_tasks.jsonl` layout)."""
    return _packaged(SEED_TASKS_FILE)


def heldout_suite_path() -> Path:
    """Path of the shipped held-out evaluation suite (same layout + `metric`, `labels`)."""
    return _packaged(HELDOUT_SUITE_FILE)


def heldout_if_path() -> Path:
    """Path of the shipped verifiable-instruction suite `heldout-if` (IFEval's input_data layout
    + `lang` and `split`)."""
    return _packaged(HELDOUT_IF_FILE)


def _load_shipped(path: Path) -> list[dict[str, Any]]:
    # Our own files, held valid by the tests: a user's task file is read with located errors by
    # `seedtune.formats.read_rows` (the one row reader), which this floor may not import.
    return [json.loads(line) for line in jsonl_lines(read_text(path, "shipped task file")) if line.strip()]


def load_seed_tasks() -> list[dict[str, Any]]:
    """The shipped seed tasks as raw dicts, in file order."""
    return _load_shipped(seed_tasks_path())


def load_heldout_suite() -> list[dict[str, Any]]:
    """The shipped held-out suite as raw dicts, in file order."""
    return _load_shipped(heldout_suite_path())


def check_tasks(tasks: list[dict[str, Any]], *, suite: bool = False, min_instances: int = 1) -> list[str]:
    """Every schema problem in `tasks`, one readable line each (empty list = valid).

    Returns all problems rather than raising on the first so that someone editing a file sees
    the whole list at once. `suite=True` also requires `metric` (one of METRICS) and, for
    classification tasks, a `labels` list that contains every reference output.
    """
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for index, task in enumerate(tasks):
        where = f"task {index} ({task.get('id', '?')})"

        def need(field: str, kind: type | tuple[type, ...]) -> Any:
            value = task.get(field)
            if not isinstance(value, kind):
                problems.append(f"{where}: field '{field}' missing or not {getattr(kind, '__name__', kind)}")
                return None
            return value

        task_id = need("id", str)
        name = need("name", str)
        instruction = need("instruction", str)
        is_cls = need("is_classification", bool)
        category = need("category", str)
        lang = need("lang", str)
        instances = need("instances", list)
        if task_id is not None:
            if task_id in seen_ids:
                problems.append(f"{where}: id duplicates task {seen_ids[task_id]}")
            seen_ids[task_id] = index
        if name is not None:
            if name in seen_names:
                problems.append(f"{where}: name '{name}' duplicates task {seen_names[name]}")
            seen_names[name] = index
        if instruction is not None and not instruction.strip():
            problems.append(f"{where}: field 'instruction' is empty")
        if category is not None and category not in CATEGORIES:
            problems.append(f"{where}: unknown category '{category}' (known: {', '.join(CATEGORIES)})")
        if lang is not None and lang not in _LANGS:
            problems.append(f"{where}: field 'lang' must be one of {_LANGS}, got '{lang}'")
        if instances is not None:
            if len(instances) < min_instances:
                problems.append(f"{where}: {len(instances)} instances, need at least {min_instances}")
            for j, inst in enumerate(instances):
                if not isinstance(inst, dict) or set(inst) != {"input", "output"}:
                    problems.append(f"{where}: instance {j} must have exactly the keys 'input' and 'output'")
                    continue
                if not isinstance(inst["input"], str) or not isinstance(inst["output"], str):
                    problems.append(f"{where}: instance {j} input and output must be strings")
                elif not inst["output"].strip():
                    problems.append(f"{where}: instance {j} has an empty output")
            inputs = [i.get("input") for i in instances if isinstance(i, dict)]
            if len(instances) > 1 and len(set(map(str, inputs))) != len(inputs):
                problems.append(f"{where}: two instances share the same input")
        if suite:
            metric = task.get("metric")
            if metric not in METRICS:
                problems.append(f"{where}: field 'metric' must be one of {METRICS}, got {metric!r}")
            labels = task.get("labels")
            if is_cls:
                if metric != "accuracy":
                    problems.append(f"{where}: classification tasks are scored with 'accuracy'")
                if not isinstance(labels, list) or len(labels) < 2:
                    problems.append(f"{where}: classification task needs 'labels' (a list of >= 2)")
                elif instances is not None:
                    for j, inst in enumerate(instances):
                        if isinstance(inst, dict) and inst.get("output") not in labels:
                            problems.append(f"{where}: instance {j} output {inst.get('output')!r} not in labels")
            elif labels is not None:
                problems.append(f"{where}: 'labels' given but is_classification is false")
    return problems

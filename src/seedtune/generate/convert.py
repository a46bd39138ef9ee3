"""Dataset conversion, FLAN-style (Wei et al. 2022, "Finetuned Language Models Are Zero-Shot
Learners"; Longpre et al. 2023, "The Flan Collection"): turn a labelled dataset's columns into
instruction records, phrasing each example with one of several templates per task kind, as a
zero-shot or few-shot prompt, with the answer options listed or not. Mixing phrasings is what
made FLAN generalise to unseen instructions rather than memorise one prompt.

No teacher is involved. Template, few-shot and option choices derive from (seed, row), so the
output is a pure function of the input and config; it is written atomically.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.errors import ConfigError, InputError
from seedtune.formats import read_rows
from seedtune.formats.jsonrows import Row
from seedtune.generate.common import pick_lang, render, render_text, rng_for, template_text
from seedtune.io import write_json, write_jsonl
from seedtune.records import Record

ROLES = {
    "classification": {"required": ("text", "label"), "optional": ("text_pair",)},
    "qa": {"required": ("question", "answer"), "optional": ("context",)},
    "generation": {"required": ("text", "output"), "optional": ()},
}


class ConvertConfig(StrictModel):
    """How dataset columns become instruction records."""

    kind: str = Field("classification", pattern="^(classification|qa|generation)$", description="Task kind: classification, qa or generation.")
    task: str | None = Field(None, description="Task name written into every record (default: the input file's stem).")
    columns: dict[str, str] | None = Field(None, description="Role -> column, e.g. {text: sentence, label: label}; default: columns named like the roles.")
    label_names: dict[str, str] | None = Field(None, description="Raw label value -> label text, e.g. {'0': negative, '1': positive}.")
    options: list[str] | None = Field(None, description="Answer options for classification (default: every label seen, sorted).")
    description: str | None = Field(None, description="What a generation task asks, e.g. 'Summarize the article' (required for generation).")
    templates_per_row: int = Field(1, ge=1, description="Records per row, each with a different template.")
    few_shot_ratio: float = Field(0.3, ge=0, le=1, description="Share of prompts that get solved examples in front.")
    shots: int = Field(2, ge=1, description="Solved examples in a few-shot prompt.")
    options_ratio: float = Field(0.5, ge=0, le=1, description="Share of classification prompts that list the options.")
    lang: str = Field("auto", pattern="^(auto|en|zh)$", description="Template language; auto follows each row's text.")
    seed: int = Field(0, description="Seed for template, example and option choices.")


def _column_map(config: ConvertConfig, rows: list[dict[str, Any]], path: Path) -> dict[str, str]:
    roles = ROLES[config.kind]
    given = config.columns or {}
    unknown = set(given) - set(roles["required"]) - set(roles["optional"])
    if unknown:
        raise ConfigError(f"unknown role(s) {', '.join(sorted(unknown))} for kind {config.kind}", key="columns",
                          hint=f"roles for {config.kind}: {', '.join(roles['required'] + roles['optional'])}")
    present = set(rows[0]) if rows else set()
    mapping = {}
    for role in roles["required"] + roles["optional"]:
        column = given.get(role, role)
        if column in present:
            mapping[role] = column
        elif role in roles["required"]:
            raise InputError(f"no column for the '{role}' role (looked for '{column}')", path=path, field=column,
                             hint=f"map it with --columns {role}=COLUMN; columns here: {', '.join(sorted(present))}")
    return mapping


# -- templates --------------------------------------------------------------------------------------


def variants(kind: str, lang: str) -> list[str]:
    """The templates of one kind in one language (a file holds several, split by '---' lines)."""
    text = re.sub(r"\{#.*?#\}\n?", "", template_text(f"convert_{kind}", lang), flags=re.DOTALL)
    return [part.strip("\n") for part in re.split(r"^---$", text, flags=re.MULTILINE) if part.strip()]


def _render_variant(template: str, **context: Any) -> str:
    return render_text(template, **context)


# -- the conversion ---------------------------------------------------------------------------------


def convert_dataset(input_path: str | Path, output_path: str | Path, config: ConvertConfig | None = None) -> dict[str, Any]:
    """Write FLAN-style instruction records for every row of `input_path` to `output_path`."""
    config = config or ConvertConfig()
    input_path, output_path = Path(input_path), Path(output_path)
    if config.kind == "generation" and not config.description:
        raise ConfigError("a generation task needs a description of what it asks", key="description",
                          hint="pass --description 'Summarize the article' (or set description in the config)")
    located = read_rows(input_path)
    if not located:
        raise InputError("no rows to convert", path=input_path)
    rows = [row.value for row in located]
    mapping = _column_map(config, rows, input_path)
    examples = [_fields(row, mapping, config, input_path) for row in located]
    options = config.options or (sorted({e["answer"] for e in examples}) if config.kind == "classification" else [])
    task = config.task or input_path.stem
    records: list[Record] = []
    counts = {"zero_shot": 0, "few_shot": 0, "options_listed": 0}
    langs = [pick_lang(config.lang, e.get("text") or e.get("question") or "") for e in examples]
    for index, example in enumerate(examples):
        lang = langs[index]
        templates = variants(config.kind, lang)
        rng = rng_for(config.seed, "convert", index)
        chosen = rng.sample(range(len(templates)), min(config.templates_per_row, len(templates)))
        for number in chosen:
            show_options = config.kind == "classification" and rng.random() < config.options_ratio
            context = {**example, "options": options, "show_options": show_options,
                       "description": config.description, "task": task}
            prompt = _render_variant(templates[number], **context)
            shots: list[int] = []
            if rng.random() < config.few_shot_ratio and len(examples) > 1:
                # Solved examples in the prompt's own language when there are any.
                others = ([i for i in range(len(examples)) if i != index and langs[i] == lang]
                          or [i for i in range(len(examples)) if i != index])
                shots = rng.sample(others, min(config.shots, len(others)))
                solved = [{"prompt": _render_variant(templates[number], **{**context, **examples[i]}),
                           "answer": examples[i]["answer"]} for i in shots]
                prompt = render("convert_fewshot", lang, examples=solved, prompt=prompt)
            counts["few_shot" if shots else "zero_shot"] += 1
            counts["options_listed"] += int(show_options)
            records.append(Record(
                instruction=prompt, output=example["answer"], source="converted", task=task, lang=lang,
                is_classification=config.kind == "classification",
                meta={"method": "convert", "kind": config.kind, "template_id": f"convert_{config.kind}.{lang}#{number}",
                      "shots": len(shots), "options_listed": show_options, "row": index}))
    write_jsonl(output_path, records)
    summary = {"method": "convert", "output": output_path.name, "rows": len(rows), "accepted": len(records),
               "rejected": 0, "task": task, "kind": config.kind, "options": options, **counts}
    write_json(output_path.with_name(output_path.name.removesuffix(".jsonl") + ".stats.json"), summary)
    return summary


def _fields(row: Row, mapping: dict[str, str], config: ConvertConfig, path: Path) -> dict[str, Any]:
    """One row's role values as text; `answer` is the target (the label name for classification)."""
    where = {"path": path, "line": row.line, "index": row.index}
    values = {role: "" if row.value.get(col) is None else str(row.value.get(col)) for role, col in mapping.items()}
    answer_role = {"classification": "label", "qa": "answer", "generation": "output"}[config.kind]
    answer = values.get(answer_role, "")
    if config.label_names is not None and config.kind == "classification":
        if answer not in config.label_names:
            raise InputError(f"label {answer!r} has no name in label_names", **where,
                             field=mapping[answer_role], hint="add it to --labels (e.g. 0=negative,1=positive)")
        answer = config.label_names[answer]
    if not answer.strip():
        raise InputError("empty target", **where, field=mapping[answer_role],
                         hint="remove rows without a target, or map the right column with --columns")
    values["answer"] = answer
    values.setdefault("text_pair", "")
    values.setdefault("context", "")
    return values

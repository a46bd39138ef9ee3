"""The format registry and auto-detection.

Detection looks at the name first (`.parquet`, `.csv`, a `save_to_disk` folder) and at the
content when the name alone is ambiguous: a `.json`/`.jsonl` file may hold Alpaca records,
our records, Self-Instruct seed tasks, ShareGPT or OpenAI messages, and the first object tells
which. `format=` (`--input-format`/`--output-format`) always wins over detection.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import Format
from seedtune.formats.jsonrows import sniff_first

# Options every reader takes: a column mapping and a default `source` for rows that lack one.
COMMON_OPTIONS: tuple[str, ...] = ("columns", "source")


def _lazy(module: str, attr: str) -> Callable[..., Any]:
    """Import a format module on first use, so pyarrow/datasets load only when needed."""

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(f"seedtune.formats.{module}"), attr)(*args)

    call.__name__ = f"{module}.{attr}"
    return call


def _fmt(name: str, module: str, description: str, extensions: tuple[str, ...], options: tuple[str, ...] = (),
         is_directory: bool = False, suffix: str = "") -> Format:
    return Format(name, description, extensions, _lazy(module, f"read{suffix}"), _lazy(module, f"write{suffix}"),
                  is_directory=is_directory, options=COMMON_OPTIONS + options)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        _fmt("jsonl", "jsonl", "one record per line in seedtune's Record fields (Alpaca keys accepted)",
             (".jsonl", ".ndjson"), ("array",)),
        _fmt("alpaca", "alpaca", "Alpaca JSON array of {instruction, input, output} (+ system, history)",
             (".json",), ("array", "provenance")),
        _fmt("seed_tasks", "seed_tasks", "Self-Instruct seed_tasks.jsonl: {id, name, instruction, instances, "
             "is_classification} (+ category, lang)", (), ("array",)),
        _fmt("sharegpt", "chat", "ShareGPT: {conversations: [{from: human|gpt|system, value}]}", (),
             ("array", "provenance"), suffix="_sharegpt"),
        _fmt("messages", "chat", "OpenAI chat: {messages: [{role, content}]}", (), ("array", "provenance"),
             suffix="_messages"),
        _fmt("csv", "tabular", "CSV with a header row; --column field=header maps columns", (".csv",),
             ("delimiter", "fields"), suffix="_csv"),
        _fmt("tsv", "tabular", "TSV with a header row; --column field=header maps columns", (".tsv", ".tab"),
             ("delimiter", "fields"), suffix="_tsv"),
        _fmt("parquet", "parquet", "Apache Parquet table, one row per record", (".parquet", ".pq")),
        _fmt("hf", "hfdisk", "Hugging Face datasets folder written by save_to_disk", (), ("split",),
             is_directory=True),
    )
}

ALIASES = {"json": "alpaca", "ndjson": "jsonl", "seed-tasks": "seed_tasks", "self-instruct": "seed_tasks",
           "openai": "messages", "datasets": "hf", "hf-disk": "hf", "pq": "parquet"}

_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def get_format(name: str) -> Format:
    key = ALIASES.get(name.lower().replace("_", "-"), name.lower().replace("-", "_"))
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise InputError(f"unknown format {name!r}", field="format",
                         hint=f"use one of: {', '.join(FORMATS)}")
    return FORMATS[key]


def row_shape(first: Any) -> str | None:
    """Which JSON format one object belongs to, or None for a plain record."""
    if not isinstance(first, dict):
        return None
    if "instances" in first:
        return "seed_tasks"
    if "instruction" in first:
        return None
    if isinstance(first.get("conversations"), list):
        return "sharegpt"
    msgs = first.get("messages")
    if isinstance(msgs, list) and (not msgs or isinstance(msgs[0], dict) and "role" in msgs[0]):
        return "messages"
    return None


def detect_format(path: str | Path) -> str:
    """The format of an existing file or folder, from its name and, for JSON, its first object."""
    path = Path(path)
    if path.is_dir():
        if any((path / marker).exists() for marker in _HF_MARKERS):
            return "hf"
        raise InputError("is a folder but not a dataset saved with save_to_disk", path=path,
                         hint="pass a file, or a folder holding dataset_info.json/state.json")
    if not path.exists():
        raise InputError("file not found", path=path, hint="check the path")
    ext = path.suffix.lower()
    for fmt in FORMATS.values():
        if ext in fmt.extensions and fmt.name not in ("jsonl", "alpaca"):
            return fmt.name
    kind, first = sniff_first(path)
    shape = row_shape(first)
    if kind == "array":
        return shape or "alpaca"
    if kind == "lines":
        return shape or "jsonl"
    if ext == ".json":
        return "alpaca"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError("cannot tell the format from the name or the content", path=path,
                     hint=f"name it with --input-format FORMAT (one of: {', '.join(FORMATS)})")


def format_for_output(path: str | Path) -> str:
    """The format to write, from the output name: .jsonl, .json (Alpaca), .csv, .tsv, .parquet;
    a name without an extension (or an existing dataset folder) is a Hugging Face dataset folder."""
    path = Path(path)
    ext = path.suffix.lower()
    if path.is_dir() or not ext:
        return "hf"
    for fmt in FORMATS.values():
        if ext in fmt.extensions:
            return fmt.name
    raise InputError(f"cannot tell which format to write from the extension {ext!r}", path=path,
                     hint=f"name it with --output-format FORMAT (one of: {', '.join(FORMATS)})")

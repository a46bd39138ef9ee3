"""JSON containers: a JSONL file (one object a line) or a JSON array, read as located rows.

Several formats (our JSONL, Alpaca, ShareGPT, OpenAI messages, Self-Instruct seed tasks) differ
only in what one object means, not in how objects are stored, so they share this module: each
row comes with its 1-based line (JSONL) or 0-based index (JSON array, as `jq '.[i]'` counts), and
the raw text of a JSONL line is kept so a skipped line can be written back verbatim for fixing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from seedtune.formats.base import ReadContext, RowError
from seedtune.io import atomic_writer, dumps_line, jsonl_lines
from seedtune.io import read_text as io_read_text

T = TypeVar("T")


@dataclass
class Row:
    value: Any
    line: int | None = None
    index: int | None = None
    raw: Any = None

    def where(self) -> dict[str, Any]:
        return {"line": self.line, "index": self.index, "raw": self.raw}


def read_text(path: Path, ctx: ReadContext) -> str:
    """The file's text (a BOM from spreadsheet exports dropped); not UTF-8 is a located error."""
    if not path.exists():
        raise ctx.fatal("file not found", hint="check the path")
    if path.is_dir():
        raise ctx.fatal("is a directory, not a JSON/JSONL file",
                        hint="pass the file inside it, or --input-format hf for a dataset saved with save_to_disk")
    return io_read_text(path, "record file").removeprefix("\ufeff")


def converted(rows: Iterable[Row], ctx: ReadContext, convert: Callable[[Any], T]) -> list[T]:
    """`convert(row.value)` for every row; a row it refuses (`RowError`) goes to `ctx` with its
    place: raised, or kept for the side file."""
    out: list[T] = []
    for row in rows:
        try:
            out.append(convert(row.value))
        except RowError as err:
            ctx.reject(err, **row.where())
    return out


def is_json_array(text: str) -> bool:
    return text.lstrip().startswith("[")


def iter_rows(path: Path, ctx: ReadContext) -> Iterator[Row]:
    """Rows of a JSONL file or a JSON array (chosen by the first non-blank character)."""
    text = read_text(path, ctx)
    if is_json_array(text):
        yield from _array_rows(text, ctx)
    else:
        yield from _line_rows(text, ctx)


def _line_rows(text: str, ctx: ReadContext) -> Iterator[Row]:
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            ctx.reject(RowError(f"not valid JSON: {exc.msg} (column {exc.colno})"), line=number, raw=line)
            continue
        yield Row(value, line=number, raw=line)


def _array_rows(text: str, ctx: ReadContext) -> Iterator[Row]:
    # A JSON array is one document: a syntax error anywhere makes the whole file unreadable, so it
    # is fatal even in skip mode; we still point at the line the parser stopped on.
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ctx.fatal(f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno,
                        hint="fix the JSON syntax at that line (a JSON array cannot be partly read)") from None
    if not isinstance(values, list):
        raise ctx.fatal("expected a JSON array of objects")
    for index, value in enumerate(values):
        yield Row(value, index=index, raw=value)


def sniff_first(path: Path, limit: int = 1 << 16) -> tuple[str, Any]:
    """('array' | 'lines' | 'unknown', first object or None) from the head of a file, cheaply."""
    try:
        with path.open("rb") as handle:
            head = handle.read(limit).decode("utf-8-sig", errors="replace")
    except OSError:
        return "unknown", None
    stripped = head.lstrip()
    if stripped.startswith("["):
        first = _first_array_element(path)
        return "array", first
    for line in jsonl_lines(head):
        if line.strip():
            try:
                return "lines", json.loads(line)
            except json.JSONDecodeError:
                return ("lines" if line.lstrip().startswith("{") else "unknown"), None
    return "unknown", None


def _first_array_element(path: Path) -> Any:
    decoder = json.JSONDecoder()
    try:
        text = path.read_text(encoding="utf-8-sig")
        start = text.index("[") + 1
        while start < len(text) and text[start].isspace():
            start += 1
        value, _ = decoder.raw_decode(text, start)
        return value
    except (ValueError, OSError):
        return None


def write_rows(path: Path, rows: Iterable[dict[str, Any]], *, as_array: bool) -> int:
    """Write rows atomically as a JSON array (one object per line inside it) or as JSONL."""
    count = 0
    with atomic_writer(path) as handle:
        if as_array:
            handle.write("[")
            for row in rows:
                handle.write(",\n " if count else "\n ")
                handle.write(json.dumps(row, ensure_ascii=False))
                count += 1
            handle.write("\n]\n" if count else "]\n")
        else:
            for row in rows:
                handle.write(dumps_line(row))
                count += 1
    return count


def wants_array(path: Path, opts: dict[str, Any]) -> bool:
    """JSON array for `.json` files (or `array=True`), JSONL otherwise."""
    if "array" in opts and opts["array"] is not None:
        return bool(opts["array"])
    return path.suffix.lower() == ".json"

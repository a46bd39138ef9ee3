"""CSV and TSV with a header row, mapped to record fields by name or by `columns=`.

`columns={"instruction": "question", "output": "answer"}` (CLI: `--column instruction=question`)
reads a spreadsheet export without editing it. Writing puts the content columns first and adds
provenance columns only when some record has a value for them; structured fields (messages,
parent_ids, scores, meta) are stored as JSON text so a CSV round trip loses nothing. Rows are
located by the line they start on, which differs from the row number when a quoted cell spans
lines.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext
from seedtune.formats.jsonrows import Row, converted, read_text
from seedtune.formats.mapping import RECORD_FIELDS, apply_columns, flat_row, record_from_mapping, unflatten_row
from seedtune.io import atomic_writer
from seedtune.records import Record

CONTENT = ("instruction", "input", "output")
ALWAYS = CONTENT + ("id", "source")


def _read(path: Path, ctx: ReadContext, opts: dict[str, Any], delimiter: str) -> list[Record]:
    columns = opts.get("columns")
    defaults = {"source": opts["source"]} if opts.get("source") else {}
    return converted(iter_csv_rows(path, ctx, opts.get("delimiter") or delimiter), ctx,
                     lambda value: record_from_mapping(unflatten_row(apply_columns(value, columns)), defaults=defaults))


def iter_csv_rows(path: Path, ctx: ReadContext, delimiter: str) -> Iterator[Row]:
    """The rows of a CSV/TSV file with a header, as dicts located by the line each starts on; a
    file that is not UTF-8, a broken header or broken quoting stops the read at its line."""
    # Spreadsheet cells can be long (a whole article as input); lift csv's 128 KiB cell limit.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    if path.is_dir():
        raise ctx.fatal("is a directory, not a CSV/TSV file")
    reader = csv.DictReader(io.StringIO(read_text(path, ctx), newline=""), delimiter=delimiter)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise ctx.fatal(f"cannot read the header: {exc}", line=1) from None
    if not header:
        raise ctx.fatal("is empty; expected a header row naming the columns", line=1)
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise ctx.fatal(f"the header repeats column(s) {', '.join(dupes)}", line=1, hint="rename them")
    while True:
        start = reader.line_num + 1
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ctx.fatal(f"not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", line=start,
                            hint="fix the quoting at that line") from None
        yield Row(dict(raw), line=start, raw=dict(raw))


def _write(path: Path, records: Sequence[Record], opts: dict[str, Any], delimiter: str) -> int:
    delimiter = opts.get("delimiter") or delimiter
    fields = list(opts.get("fields") or _fields_in_use(records))
    unknown = [f for f in fields if f not in RECORD_FIELDS]
    if unknown:
        raise InputError(f"unknown record field(s) {', '.join(unknown)}", field="fields",
                         hint=f"choose from: {', '.join(RECORD_FIELDS)}")
    rename = dict(opts.get("columns") or {})
    header = [rename.get(f, f) for f in fields]
    with atomic_writer(path) as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        for record in records:
            row = flat_row(record, fields)
            writer.writerow([row[f] for f in fields])
    return len(records)


def _fields_in_use(records: Sequence[Record]) -> list[str]:
    used = set(ALWAYS)
    for record in records:
        data = record.model_dump()
        used.update(k for k, v in data.items() if v not in (None, "", [], {}) and not (k == "source" and v == "human"))
    return [f for f in RECORD_FIELDS if f in used]


def read_csv(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    return _read(path, ctx, opts, ",")


def read_tsv(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    return _read(path, ctx, opts, "\t")


def write_csv(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    return _write(path, records, opts, ",")


def write_tsv(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    return _write(path, records, opts, "\t")

"""Plain rows (dicts) of a table file, located, for readers that map columns themselves:
`generate convert` (a labelled dataset), evaluation's task layouts, and the suite that
curation decontaminates against. JSONL, JSON array, CSV, TSV or Parquet, chosen by extension
and first character, with the same located errors as `read_records`."""

from __future__ import annotations

import csv
from pathlib import Path

from seedtune.formats.base import ReadContext
from seedtune.formats.jsonrows import Row, iter_rows
from seedtune.records import Record


def read_rows(path: str | Path) -> list[Row]:
    """Every row of the file as a dict with its line (text files) or index (arrays, Parquet)."""
    path = Path(path)
    ctx = ReadContext(path)
    if not path.exists():
        raise ctx.fatal("file not found", hint="check the path")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = [Row(value, index=i) for i, value in enumerate(pq.read_table(path).to_pylist())]
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            rows = [Row(dict(value), line=reader.line_num) for value in reader]
    else:
        rows = list(iter_rows(path, ctx))
    for row in rows:
        if not isinstance(row.value, dict):
            raise ctx.fatal(f"expected an object, got {type(row.value).__name__}", line=row.line,
                            hint="each row must be one JSON object" if row.index is None else
                                 f"element {row.index} of the array must be an object")
    return rows


def read_suite_records(name_or_path: str | Path | None) -> tuple[list[Record], str]:
    """An evaluation suite as records (one per instance) and a name for messages: the shipped
    held-out suite for `None` or 'heldout' (the name `seedtune eval --suite` uses), else any
    record file. Curation decontaminates against it and checks its judge on it."""
    from seedtune.data import heldout_suite_path
    from seedtune.errors import InputError
    from seedtune.formats.api import read_records

    if name_or_path is None or str(name_or_path) == "heldout":
        suite = heldout_suite_path()
        if not suite.exists():
            raise InputError("the shipped held-out suite is missing from this installation", path=suite.name,
                             hint="pass a suite file (curate --against SUITE), or drop the filter that needs it")
        return read_records(suite), "shipped held-out suite"
    return read_records(name_or_path), str(name_or_path)



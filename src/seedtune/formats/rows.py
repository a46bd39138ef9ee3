"""Plain rows (dicts) of a table file, located, for readers that map columns themselves:
`generate templates` (a labelled dataset), evaluation's suites (seed-task, human-eval and IFEval
layouts), and the suite that curation decontaminates against. JSONL, JSON array, CSV, TSV or
Parquet, chosen by extension and first character, with the same located errors as
`read_records`: a file that is not UTF-8 names its line and how to re-save it; JSONL is split on
newlines only (U+2028/U+2029/U+0085 may sit inside strings); blank lines are skipped."""

from __future__ import annotations

from pathlib import Path

from seedtune.formats.base import ReadContext, RowError
from seedtune.formats.jsonrows import Row, iter_rows
from seedtune.formats.tabular import iter_csv_rows
from seedtune.records import Record


def read_rows(path: str | Path, ctx: ReadContext | None = None) -> list[Row]:
    """Every object row of the file with its line (text files) or index (arrays, Parquet). A line
    that is not JSON, or a row that is not an object, goes to `ctx`: raised (the default) or, with
    `on_error="skip"`, left out and kept in `ctx.rejected`."""
    path = Path(path)
    ctx = ctx or ReadContext(path, hint="each row must be one JSON object; fix that row")
    if not path.exists():
        raise ctx.fatal("file not found", hint="check the path")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = [Row(value, index=i) for i, value in enumerate(pq.read_table(path).to_pylist())]
    elif suffix in (".csv", ".tsv"):
        rows = list(iter_csv_rows(path, ctx, "\t" if suffix == ".tsv" else ","))
    else:
        rows = list(iter_rows(path, ctx))
    objects = []
    for row in rows:
        if isinstance(row.value, dict):
            objects.append(row)
            continue
        what = "the line" if row.index is None else f"element {row.index} of the array"
        ctx.reject(RowError(f"{what} must be a JSON object, got {type(row.value).__name__}"),
                   line=row.line, index=row.index, raw=row.raw)
    return objects


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

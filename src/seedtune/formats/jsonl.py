"""Our JSONL: one Record per line, in the Record's own field names.

Reading also accepts Alpaca/Dolly-style keys (`instruction`/`input`/`output`, `context`,
`response`) and a column mapping, so a plain JSONL export from elsewhere reads without a
conversion step; unknown keys are kept in `meta["extra"]` rather than dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.formats.base import ReadContext
from seedtune.formats.jsonrows import converted, iter_rows, write_rows
from seedtune.formats.mapping import record_from_mapping, record_to_row
from seedtune.records import Record


def row_defaults(opts: dict[str, Any]) -> dict[str, Any]:
    """Values for fields a row leaves empty (`source="converted"` when importing a dataset)."""
    return {"source": opts["source"]} if opts.get("source") else {}


def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    columns, defaults = opts.get("columns"), row_defaults(opts)
    return converted(iter_rows(path, ctx), ctx, lambda value: record_from_mapping(value, columns=columns, defaults=defaults))
    return records


def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    return write_rows(path, (record_to_row(r) for r in records), as_array=bool(opts.get("array")))

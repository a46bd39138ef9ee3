"""Apache Parquet via pyarrow: one row per record, a fixed schema when we write.

We write content and provenance as typed columns (`messages` as a list of {role, content},
`parent_ids` as a list of strings, `round` as int64) and `scores`/`meta` as JSON text, because
their keys differ from row to row and a Parquet struct needs one set of keys. Reading accepts
any table: our layout, Alpaca columns, or `conversations`/`messages`/`instances` columns (see
`anyrow`); rows are located by their 0-based index in the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seedtune.formats.anyrow import row_reader_for
from seedtune.formats.base import ReadContext, RowError
from seedtune.io import atomic_writer
from seedtune.records import Record


def schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([
        ("instruction", text), ("input", text), ("output", text), ("system", text),
        ("messages", pa.list_(pa.struct([("role", text), ("content", text)]))),
        ("id", text), ("source", text), ("teacher", text), ("parent_ids", pa.list_(text)),
        ("round", pa.int64()), ("lang", text), ("task", text), ("category", text),
        ("is_classification", pa.bool_()), ("scores", text), ("kept_reason", text), ("meta", text),
    ])


def to_arrow(records: Sequence[Record]) -> Any:
    """Records -> a pyarrow Table in the schema above."""
    import pyarrow as pa

    rows = []
    for record in records:
        row = record.model_dump(mode="json")
        for key in ("scores", "meta"):
            row[key] = json.dumps(row[key], ensure_ascii=False) if row[key] else None
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema())


def iter_table_rows(table: Any, batch_size: int = 4096) -> Iterator[tuple[int, dict[str, Any]]]:
    index = 0
    for batch in table.to_batches(max_chunksize=batch_size):
        for row in batch.to_pylist():
            yield index, row
            index += 1


def read_table_records(table: Any, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    """Rows of an Arrow table -> records, each bad row located by index (shared with `hfdisk`)."""
    reader = row_reader_for(table.column_names, opts)
    records: list[Record] = []
    for index, row in iter_table_rows(table):
        try:
            records.extend(reader(row))
        except RowError as err:
            ctx.reject(err, index=index, raw=_jsonable(row))
    return records


def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ctx.fatal(f"cannot read as Parquet: {exc}", hint="check that it is a Parquet file, or pass --input-format") from None
    return read_table_records(table, ctx, opts)


def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    import pyarrow.parquet as pq

    table = to_arrow(records)
    with atomic_writer(path, mode="wb") as handle:
        pq.write_table(table, handle)
    return len(records)


def _jsonable(value: Any) -> Any:
    """Arrow values (bytes, dates) made safe for the rejected-rows JSONL."""
    try:
        json.dumps(value, ensure_ascii=False)
        return value
    except TypeError:
        return json.loads(json.dumps(value, ensure_ascii=False, default=str))

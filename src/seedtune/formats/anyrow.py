"""Rows of a table whose layout we must recognise: Parquet files and saved datasets can hold our
records, Alpaca columns, ShareGPT `conversations`, OpenAI `messages` or seed-task `instances`.
The columns decide, once per table, which row reader applies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from seedtune.formats.mapping import STRUCTURED_FIELDS, record_from_mapping, unflatten_row
from seedtune.records import Record

RowReader = Callable[[Mapping[str, Any]], list[Record]]


def row_reader_for(column_names: Sequence[str], opts: dict[str, Any]) -> RowReader:
    """Pick the row reader from the column names (after the user's column mapping)."""
    columns = opts.get("columns") or {}
    names = set(column_names) | set(columns)
    source = opts.get("source")
    if "instances" in names and "instruction" in names:
        from seedtune.formats.seed_tasks import task_to_records

        return lambda row: task_to_records(_plain(row), columns=columns, source=source)
    if "instruction" not in names:
        from seedtune.formats import chat

        if "conversations" in names:
            return lambda row: [chat.chat_row_to_record(_plain(row), "conversations", chat.sharegpt_turns,
                                                        columns=columns, source=source)]
        if "messages" in names:
            return lambda row: [chat.chat_row_to_record(_plain(row), "messages", chat.openai_turns,
                                                        columns=columns, source=source)]
    defaults = {"source": source} if source else {}
    return lambda row: [record_from_mapping(_typed(row, columns), defaults=defaults)]


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """Nulls from a columnar table mean "no value": drop them (except content, which must show up)."""
    return {k: v for k, v in row.items() if v is not None}


def _typed(row: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """Map columns, drop nulls, and parse structured fields stored as JSON text."""
    from seedtune.formats.mapping import apply_columns

    data = apply_columns(_plain(row), columns)
    text_cells = {k: v for k, v in data.items() if k in STRUCTURED_FIELDS and isinstance(v, str)}
    parsed = unflatten_row(text_cells)  # "" means absent; JSON text becomes lists/dicts
    for key in text_cells:
        data.pop(key)
    data.update(parsed)
    return data

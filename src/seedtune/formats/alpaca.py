"""Alpaca JSON: an array of `{"instruction", "input", "output"}` objects (Stanford Alpaca's
`alpaca_data.json`), with the optional `system` and `history` keys LLaMA-Factory's Alpaca layout
adds, so multi-turn records survive the trip.

`history` is a list of earlier `[user, assistant]` pairs; the final turn is instruction (+ input)
and output. Provenance is not part of the format; `provenance=True` writes it anyway, as extra
keys that Alpaca readers ignore and we read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext, RowError
from seedtune.formats.jsonl import row_defaults
from seedtune.formats.jsonrows import converted, iter_rows, write_rows
from seedtune.formats.mapping import (
    apply_columns,
    record_from_mapping,
    record_from_turns,
    record_to_row,
    record_to_turns,
)
from seedtune.lexicon import join_instruction
from seedtune.records import Record


def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    columns, defaults = opts.get("columns"), row_defaults(opts)
    return converted(iter_rows(path, ctx), ctx, lambda value: _read_row(value, columns, defaults))


def _read_row(value: Any, columns: Any, defaults: dict[str, Any]) -> Record:
    if isinstance(value, dict) and value.get("history") == []:  # LLaMA-Factory writes [] for "no history"
        value = {k: v for k, v in value.items() if k != "history"}
    if not isinstance(value, dict) or not value.get("history"):
        return record_from_mapping(value, columns=columns, defaults=defaults)
    data = apply_columns(value, columns)
    history = data.pop("history")
    if not isinstance(history, list):
        raise RowError("expected a list of [user, assistant] pairs", field="history")
    turns: list[tuple[str, str]] = []
    for i, pair in enumerate(history):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise RowError("expected a [user, assistant] pair of texts", field=f"history[{i}]")
        turns += [("user", pair[0]), ("assistant", pair[1])]
    for key in ("instruction", "input", "output"):
        if key in data and not isinstance(data[key], (str, type(None))):
            raise RowError(f"expected text, got {type(data[key]).__name__}", field=key)
    if not data.get("instruction"):
        raise RowError("missing or empty", field="instruction")
    user = join_instruction(data["instruction"], data.get("input") or "")
    turns.append(("user", user))
    if data.get("output"):
        turns.append(("assistant", data["output"]))
    provenance = {k: v for k, v in data.items() if k not in ("instruction", "input", "output", "system")}
    for key, val in defaults.items():
        provenance.setdefault(key, val)
    return record_from_turns(turns, system=data.get("system"), field="history", **provenance)


def to_row(record: Record, provenance: bool = False) -> dict[str, Any]:
    row: dict[str, Any]
    if not record.messages:
        row = {"instruction": record.instruction, "input": record.input, "output": record.output}
        if record.system:
            row["system"] = record.system
    else:
        system, turns = record_to_turns(record)
        pairs: list[list[str]] = []
        i = 0
        while i < len(turns):
            role, text = turns[i]
            answer = turns[i + 1][1] if i + 1 < len(turns) and turns[i + 1][0] == "assistant" else None
            if role != "user" or (answer is None and i + 1 < len(turns)):
                raise InputError(f"record {record.id}: turn {i} is a {role} turn out of user/assistant order; "
                                 "Alpaca's history cannot hold it", hint="write this data as jsonl or sharegpt")
            pairs.append([text, answer or ""])
            i += 2
        *history, last = pairs
        row = {"instruction": last[0], "input": "", "output": last[1]}
        if system:
            row["system"] = system
        if history:
            row["history"] = history
    if provenance:
        full = record_to_row(record)
        for key in ("instruction", "input", "output", "system", "messages"):
            full.pop(key, None)
        row.update(full)
    return row


def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    # Alpaca is an array by definition; a .jsonl name (or array=False) gets one object a line.
    as_array = opts.get("array", path.suffix.lower() not in (".jsonl", ".ndjson")) is not False
    provenance = bool(opts.get("provenance"))
    return write_rows(path, (to_row(r, provenance) for r in records), as_array=as_array)

"""Turning one row (a dict from JSON, CSV, Parquet or a dataset) into a Record, and back.

Pure functions on one row, so every format shares the same rules: which keys mean what, how a
column mapping renames them, where unknown keys go (into `meta["extra"]`, never dropped), and how
a validation failure becomes a `RowError` that names the field the user must fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from seedtune.formats.base import RowError
from seedtune.records import Record

RECORD_FIELDS: tuple[str, ...] = tuple(Record.model_fields)

# Keys other instruction datasets use for our fields; read only when our own key is absent.
# Dolly uses context/response; many QA sets use question/answer (those need an explicit mapping
# since "question" may be the whole prompt or only the input).
ALIASES: dict[str, tuple[str, ...]] = {
    "input": ("context",),
    "output": ("response",),
}

# Fields whose values are structured; tabular formats store them as JSON text.
STRUCTURED_FIELDS: tuple[str, ...] = ("messages", "parent_ids", "scores", "meta")


def apply_columns(row: Mapping[str, Any], columns: Mapping[str, str] | None) -> dict[str, Any]:
    """Rename source columns to record fields: `columns={"instruction": "question"}`.

    A mapped column that the row lacks is an error naming that column, since a typo in a mapping
    would otherwise read every row as empty.
    """
    out = dict(row)
    if not columns:
        return out
    for target, source in columns.items():
        if target not in RECORD_FIELDS:
            raise RowError(f"column mapping targets unknown record field {target!r}; "
                           f"known fields: {', '.join(RECORD_FIELDS)}", field=target)
        if source == target:
            continue
        if source not in out:
            raise RowError(f"mapped column {source!r} (for {target!r}) is missing; "
                           f"columns here: {', '.join(map(str, row))}", field=source)
        out[target] = out.pop(source)
    return out


def record_from_mapping(row: Any, *, columns: Mapping[str, str] | None = None,
                        defaults: Mapping[str, Any] | None = None) -> Record:
    """One row in our Record layout (or Alpaca/Dolly keys) -> Record, or a RowError naming the field."""
    if not isinstance(row, Mapping):
        raise RowError(f"expected an object with an 'instruction' field, got {_type_name(row)}")
    data = apply_columns(row, columns)
    for field, aliases in ALIASES.items():
        if field not in data:
            for alias in aliases:
                if alias in data:
                    data[field] = data.pop(alias)
                    break
    known = {k: v for k, v in data.items() if k in RECORD_FIELDS}
    extra = {k: v for k, v in data.items() if k not in RECORD_FIELDS}
    for key, value in (defaults or {}).items():
        if known.get(key) in (None, ""):
            known[key] = value
    if extra:
        meta = known.get("meta")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise RowError(f"expected an object, got {_type_name(meta)}", field="meta")
        meta = dict(meta)
        meta.setdefault("extra", {}).update({str(k): v for k, v in extra.items()})
        known["meta"] = meta
    if "instruction" not in known:
        if known.get("messages"):
            known["instruction"] = ""  # filled from the first user turn by Record
        else:
            hint = f" (this row has: {', '.join(map(str, row))}; map a column with columns=/--column)" if row else ""
            raise RowError(f"missing required field{hint}", field="instruction")
    return validate_record(known)


def validate_record(data: dict[str, Any]) -> Record:
    """Record.model_validate with its first error turned into a RowError naming the dotted field."""
    for key in ("id", "system"):  # None and "" mean "absent" for these
        if data.get(key) is None:
            data.pop(key, None)
    try:
        record = Record.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _dotted(err["loc"])
        got = err.get("input")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] not in ("missing",):
            message = f"{message}; got {_short(got)}"
        raise RowError(message, field=field) from None
    if not record.instruction.strip() and not record.messages:
        raise RowError("is empty; every example needs an instruction", field="instruction")
    return record


def record_to_row(record: Record) -> dict[str, Any]:
    """Our full layout for JSON-like formats: empty provenance dropped, content always present."""
    return record.to_dict(drop_empty=True)


def flat_row(record: Record, fields: Sequence[str]) -> dict[str, Any]:
    """A row of scalars for tabular formats: structured fields as JSON text, None as ""."""
    data = record.model_dump(mode="json")
    out: dict[str, Any] = {}
    for name in fields:
        value = data.get(name)
        if name in STRUCTURED_FIELDS:
            out[name] = "" if value in (None, [], {}) else json.dumps(value, ensure_ascii=False)
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = value
    return out


def unflatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `flat_row` for text cells: parse JSON in structured columns, "" -> absent."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            raise RowError("this row has more cells than the header has columns")
        if isinstance(value, str) and value == "" and key not in ("instruction", "input", "output"):
            continue
        if key in STRUCTURED_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise RowError(f"expected JSON text in this column: {exc.msg} (char {exc.pos})", field=key) from None
        elif key == "round" and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise RowError(f"expected a whole number, got {value!r}", field=key) from None
        elif key == "is_classification" and isinstance(value, str):
            low = value.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise RowError(f"expected true or false, got {value!r}", field=key)
            value = low in ("true", "1", "yes")
        out[key] = value
    return out


# --- chat turns: shared by ShareGPT, OpenAI messages and Alpaca's `history` ----------------------

Turn = tuple[str, str]  # (role, content) with role in system | user | assistant


def record_from_turns(turns: Sequence[Turn], *, system: str | None = None, field: str = "messages",
                      **provenance: Any) -> Record:
    """A conversation -> Record. One user turn (+ one answer) stays a plain record; longer ones keep
    `messages`, with `instruction` = first user turn and `output` = the final assistant turn."""
    turns = list(turns)
    while turns and turns[0][0] == "system":
        system = turns.pop(0)[1] if system is None else f"{system}\n\n{turns.pop(0)[1]}"
    if not any(role == "user" for role, _ in turns):
        raise RowError("the conversation has no user turn", field=field)
    if turns[0][0] != "user":
        raise RowError(f"the conversation must start with a user turn (after any system turn), "
                       f"not {turns[0][0]}", field=f"{field}[0]")
    data: dict[str, Any] = dict(provenance)
    if system:
        data["system"] = system
    roles = [role for role, _ in turns]
    if roles in (["user"], ["user", "assistant"]):
        data["instruction"] = turns[0][1]
        data["output"] = turns[1][1] if len(turns) == 2 else ""
    else:
        data["instruction"] = turns[0][1]
        data["output"] = turns[-1][1] if roles[-1] == "assistant" else ""
        data["messages"] = [{"role": r, "content": c} for r, c in turns]
    return validate_record(data)


def record_to_turns(record: Record) -> tuple[str | None, list[Turn]]:
    """Record -> (system, turns without the leading system turn)."""
    conv = record.conversation()
    system = None
    if conv and conv[0]["role"] == "system":
        system = conv.pop(0)["content"]
    return system, [(m["role"], m["content"]) for m in conv]


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(value), type(value).__name__)

"""Chat formats: ShareGPT (`conversations` of `{from, value}`) and OpenAI (`messages` of
`{role, content}`), as JSONL or a JSON array.

Both map onto the Record the same way (see `mapping.record_from_turns`): a single exchange
becomes a plain instruction/output record, a longer one keeps its `messages`. Neither format
has a place for provenance, so `provenance=True` writes ours under a `"seedtune"` key, which
other tools ignore and we read back; foreign top-level keys (a ShareGPT `id`, OpenAI `tools`)
are kept in `meta["extra"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seedtune.formats.base import ReadContext, RowError
from seedtune.formats.jsonrows import converted, iter_rows, wants_array, write_rows
from seedtune.formats.mapping import apply_columns, record_from_turns, record_to_row, record_to_turns
from seedtune.records import Record

PROVENANCE_KEY = "seedtune"

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                  "system": "system"}
SHAREGPT_NAMES = {"user": "human", "assistant": "gpt", "system": "system"}
OPENAI_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def sharegpt_turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    def text(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise RowError(f"expected text, got {type(value).__name__}", field=where)
        return value

    return _turns(row, ("conversations", "from", "value"), SHAREGPT_ROLES, text,
                  "unknown speaker {!r}; expected human, gpt or system")


def openai_turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    return _turns(row, ("messages", "role", "content"), OPENAI_ROLES, _content_text,
                  "role {!r} is not supported; expected system, user or assistant (tool calls cannot be trained on here)")


def _turns(row: dict[str, Any], keys: tuple[str, str, str], roles: dict[str, str], text: Any,
           unknown: str) -> list[tuple[str, str]]:
    """(role, text) turns of a chat row: `keys` names the list, the speaker and the text of a turn."""
    container, who, what = keys
    shape = f"{{{who}, {what}}}"
    items = row.get(container)
    if not isinstance(items, list):
        raise RowError(f"expected a list of {shape} turns", field=container)
    turns = []
    for i, turn in enumerate(items):
        where = f"{container}[{i}]"
        if not isinstance(turn, dict):
            raise RowError(f"expected a {shape} object, got {type(turn).__name__}", field=where)
        if turn.get(who) not in roles:
            raise RowError(unknown.format(turn.get(who)), field=f"{where}.{who}")
        turns.append((roles[turn[who]], text(turn.get(what), f"{where}.{what}")))
    return turns


def _content_text(content: Any, where: str) -> str:
    """OpenAI content is text, or a list of parts of which we can use only the text ones."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RowError("only text parts ({type: text, text}) are supported", field=f"{where}[{j}]")
            texts.append(part["text"])
        return "".join(texts)
    raise RowError(f"expected text, got {type(content).__name__}", field=where)


def chat_row_to_record(row: Any, key: str, turns_of: Callable[[dict[str, Any]], list[tuple[str, str]]], *,
                       columns: Any = None, source: str | None = None) -> Record:
    if not isinstance(row, dict):
        raise RowError(f"expected an object with '{key}', got {type(row).__name__}")
    row = apply_columns(row, columns)
    if key not in row:
        raise RowError(f"missing (this row has: {', '.join(map(str, row))})", field=key)
    turns = turns_of(row)
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise RowError(f"expected text, got {type(system).__name__}", field="system")
    provenance = row.get(PROVENANCE_KEY) or {}
    if not isinstance(provenance, dict):
        raise RowError("expected an object of seedtune provenance", field=PROVENANCE_KEY)
    provenance = dict(provenance)
    extra = {k: v for k, v in row.items() if k not in (key, "system", PROVENANCE_KEY)}
    if extra:
        meta = dict(provenance.get("meta") or {})
        meta.setdefault("extra", {}).update(extra)
        provenance["meta"] = meta
    if source and not provenance.get("source"):
        provenance["source"] = source
    try:
        return record_from_turns(turns, system=system or None, field=key, **provenance)
    except RowError as err:
        if err.field and not err.field.startswith(key) and err.field not in ("system",):
            err.field = f"{PROVENANCE_KEY}.{err.field}"
        raise


def record_to_chat_row(record: Record, key: str, provenance: bool) -> dict[str, Any]:
    system, turns = record_to_turns(record)
    if key == "conversations":
        items = [{"from": SHAREGPT_NAMES[r], "value": c} for r, c in turns]
        if system is not None:
            items.insert(0, {"from": "system", "value": system})
    else:
        items = [{"role": r, "content": c} for r, c in turns]
        if system is not None:
            items.insert(0, {"role": "system", "content": system})
    row: dict[str, Any] = {key: items}
    if provenance:
        full = record_to_row(record)
        for field in ("instruction", "input", "output", "system", "messages"):
            full.pop(field, None)
        row[PROVENANCE_KEY] = full
    return row


def _reader(key: str, turns_of: Callable[[dict[str, Any]], list[tuple[str, str]]]):
    def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
        return converted(iter_rows(path, ctx), ctx, lambda value: chat_row_to_record(
            value, key, turns_of, columns=opts.get("columns"), source=opts.get("source")))

    return read


def _writer(key: str):
    def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
        provenance = bool(opts.get("provenance"))
        return write_rows(path, (record_to_chat_row(r, key, provenance) for r in records),
                          as_array=wants_array(path, opts))

    return write


read_sharegpt = _reader("conversations", sharegpt_turns)
write_sharegpt = _writer("conversations")
read_messages = _reader("messages", openai_turns)
write_messages = _writer("messages")

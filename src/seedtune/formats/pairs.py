"""Preference pairs: a prompt, a chosen answer and a rejected one, in the layouts tools exchange.

Three layouts are read (detected per row) and written:

- `text` (ours, and TRL's "standard" preference layout): the prompt as our record fields
  (`instruction`, `input`, `system`) or as one `prompt` string, `chosen` / `rejected` as text;
  plus `margin` and `how` (checkers, reference, judge) when seedtune built the pair.
- `trl` (TRL's conversational layout): `prompt` is a list of `{role, content}` messages and
  `chosen` / `rejected` are lists holding the assistant turn.
- `messages` (UltraFeedback-binarized): `chosen` / `rejected` are whole conversations, prompt
  turns included, ending with the assistant turn; `prompt` is the first user turn as text, or
  absent (TRL's "implicit prompt": the shared turns before the answers are the prompt).

A pair turns into two Records (`chosen_record`, `rejected_record`) with the same prompt, so
training renders both with the model's prompt format and builds labels exactly as SFT does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext, ReadReport, RowError, rejected_path_for
from seedtune.formats.jsonrows import Row, converted, iter_rows, wants_array, write_rows
from seedtune.records import Message, Record

Layout = Literal["text", "trl", "messages"]
LAYOUTS: tuple[str, ...] = ("text", "trl", "messages")


class Pair(BaseModel):
    """One preference pair. The prompt is `instruction` (+ `input`, `system`) or, for a
    conversation, `messages` ending with the user turn the answers reply to."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field("", description="What the model is asked (the first user turn of a conversation).")
    input: str = Field("", description="Optional context for the instruction.")
    system: str | None = Field(None, description="Optional system prompt.")
    messages: list[Message] | None = Field(None, description="Multi-turn prompt: every turn before the answers.")
    chosen: str = Field(..., description="The preferred answer.")
    rejected: str = Field(..., description="The dispreferred answer.")
    margin: float | None = Field(None, description="How much better chosen scored than rejected (in the scorer's unit).")
    how: str | None = Field(None, description="What decided the pair: checkers, reference, judge, or a dataset's own label.")
    id: str = Field("", description="Content hash of prompt + both answers; computed when empty.")
    source: str | None = Field(None, description="Where the pair came from (e.g. preferences, a dataset name).")
    teacher: str | None = Field(None, description="The model that wrote the answers.")
    lang: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="Scores of each answer, constraint verdicts, judge verdicts...")

    @model_validator(mode="after")
    def _fill(self) -> "Pair":
        if self.messages and not self.instruction:
            object.__setattr__(self, "instruction", next((m.content for m in self.messages if m.role == "user"), ""))
        if not (self.instruction.strip() or self.messages):
            raise ValueError("a pair needs a prompt (instruction, prompt or messages)")
        if self.messages and self.messages[-1].role != "user":
            raise ValueError("the prompt conversation must end with the user turn the answers reply to")
        if self.lang is None:  # the prompt's language, detected as for any record
            object.__setattr__(self, "lang", self.prompt_record().lang)
        if not self.id:
            object.__setattr__(self, "id", self.content_hash())
        return self

    def content_hash(self) -> str:
        payload = {"prompt": self.prompt_record().content_hash(), "chosen": self.chosen, "rejected": self.rejected}
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]

    def prompt_record(self, answer: str = "") -> Record:
        """The prompt as a Record, answered with `answer` (the last assistant turn of a conversation)."""
        if self.messages:
            turns = [m.model_dump() for m in self.messages] + ([{"role": "assistant", "content": answer}] if answer else [])
            return Record(instruction=self.instruction, system=self.system, messages=turns, lang=self.lang)
        return Record(instruction=self.instruction, input=self.input, output=answer, system=self.system, lang=self.lang)

    def chosen_record(self) -> Record:
        return self.prompt_record(self.chosen)

    def rejected_record(self) -> Record:
        return self.prompt_record(self.rejected)

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        keep = {"instruction", "chosen", "rejected", "id"}
        return {k: v for k, v in data.items() if k in keep or v not in (None, [], {}, "")}

    @classmethod
    def from_record(cls, record: Record, chosen: str, rejected: str, **extra: Any) -> "Pair":
        """A pair whose prompt is `record`'s (its own answer, if any, is not part of it)."""
        turns = None
        if record.messages:
            turns = [m.model_dump() for m in record.messages]
            if turns[-1]["role"] == "assistant":
                turns = turns[:-1]
        return cls(instruction=record.instruction, input="" if turns else record.input, system=record.system,
                   messages=turns, chosen=chosen, rejected=rejected, lang=record.lang, **extra)


# -- reading -------------------------------------------------------------------------------------

def pair_from_row(row: Any) -> Pair:
    """One row in any of the three layouts -> Pair, or a RowError naming the field to fix."""
    if not isinstance(row, dict):
        raise RowError(f"expected an object with 'chosen' and 'rejected', got {type(row).__name__}")
    for key in ("chosen", "rejected"):
        if key not in row:
            raise RowError(f"missing (this row has: {', '.join(map(str, row)) or 'nothing'})", field=key)
    data = dict(row)
    chosen, rejected, prompt = data.pop("chosen"), data.pop("rejected"), data.pop("prompt", None)
    if isinstance(chosen, list) or isinstance(rejected, list):
        context, chosen_text = _conversation(chosen, "chosen")
        rejected_context, rejected_text = _conversation(rejected, "rejected")
        if isinstance(prompt, list):  # TRL conversational: the prompt is separate, answers are [assistant]
            context = _turns(prompt, "prompt")
        elif context != rejected_context:
            raise RowError("chosen and rejected conversations differ before their last turn, so the prompt is "
                           "ambiguous", field="rejected")
        elif not context and isinstance(prompt, str):
            context = [{"role": "user", "content": prompt}]
        fields = _prompt_fields(context, data)
    else:
        chosen_text, rejected_text = _text(chosen, "chosen"), _text(rejected, "rejected")
        if isinstance(prompt, list):
            fields = _prompt_fields(_turns(prompt, "prompt"), data)
        else:
            fields = {"instruction": _text(prompt, "prompt")} if prompt is not None else {}
    extra = {k: v for k, v in data.items() if k not in Pair.model_fields}
    known = {k: v for k, v in data.items() if k in Pair.model_fields}
    known.update(fields)
    if extra:
        known["meta"] = {**dict(known.get("meta") or {}), "extra": extra}
    try:
        return Pair(**known, chosen=chosen_text, rejected=rejected_text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        raise RowError(err["msg"].removeprefix("Value error, "), field=where) from None


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"expected text or a list of messages, got {type(value).__name__}", field=field)
    return value


def _turns(value: Any, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise RowError(f"expected a list of {{role, content}} messages, got {type(value).__name__}", field=field)
    turns = []
    for i, msg in enumerate(value):
        if not (isinstance(msg, dict) and msg.get("role") in ("system", "user", "assistant")
                and isinstance(msg.get("content"), str)):
            raise RowError("expected {role: system|user|assistant, content: text}", field=f"{field}[{i}]")
        turns.append({"role": msg["role"], "content": msg["content"]})
    return turns


def _conversation(value: Any, field: str) -> tuple[list[dict[str, str]], str]:
    """(turns before the answer, the answer) of a conversation that ends with the assistant turn."""
    turns = _turns(value, field)
    if not turns or turns[-1]["role"] != "assistant":
        raise RowError("the conversation must end with the assistant's answer", field=field)
    return turns[:-1], turns[-1]["content"]


def _prompt_fields(context: list[dict[str, str]], data: dict[str, Any]) -> dict[str, Any]:
    """Prompt turns -> our fields: one user turn (after an optional system turn) stays flat."""
    system = None
    if context and context[0]["role"] == "system":
        system, context = context[0]["content"], context[1:]
    if not context:
        raise RowError("no user turn before the answers, so there is no prompt", field="prompt")
    out: dict[str, Any] = {"system": system} if system is not None else {}
    if len(context) == 1 and context[0]["role"] == "user":
        out["instruction"] = context[0]["content"]
    else:
        out["messages"] = context
    return out


def _rows(path: Path, ctx: ReadContext) -> Iterator[Row]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        from seedtune.formats.parquet import iter_table_rows

        for index, row in iter_table_rows(pq.read_table(path)):
            yield Row(row, index=index, raw=row)
        return
    yield from iter_rows(path, ctx)


def read_pairs_with_report(path: str | Path, on_error: str = "raise") -> tuple[list[Pair], ReadReport]:
    """Pairs from JSONL, a JSON array or Parquet, in any layout; bad rows raise (located) or, with
    `on_error="skip"`, go to `<stem>.rejected.jsonl` with their reasons."""
    path = Path(path)
    ctx = ReadContext(path, on_error)
    if not path.exists():
        raise ctx.fatal("file not found", hint="check the path")
    pairs = converted(_rows(path, ctx), ctx, pair_from_row)
    report = ReadReport(path=path, format="pairs", records=[], rejected=ctx.rejected)
    if ctx.rejected:
        from seedtune.io import write_jsonl

        report.rejected_path = rejected_path_for(path)
        write_jsonl(report.rejected_path, (r.to_dict() for r in ctx.rejected))
    return pairs, report


def read_pairs(path: str | Path, on_error: str = "raise") -> list[Pair]:
    return read_pairs_with_report(path, on_error)[0]


def read_required_pairs(path: str | Path, what: str = "preference pairs") -> list[Pair]:
    """Pairs a stage cannot start without: a missing or empty file says what to do."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found", path=path,
                         hint="build pairs with `seedtune generate preferences IN OUT`, or pass a TRL/UltraFeedback file")
    pairs = read_pairs(path)
    if not pairs:
        raise InputError(f"no pairs in the {what}", path=path, hint="check the file has rows with chosen and rejected")
    return pairs


# -- writing -------------------------------------------------------------------------------------

def pair_to_row(pair: Pair, layout: Layout = "text") -> dict[str, Any]:
    """One pair in `layout`; our provenance (margin, how, id, meta) travels in every layout."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown pair layout {layout!r}", field="layout", hint=f"use one of: {', '.join(LAYOUTS)}")
    if layout == "text":
        return pair.to_dict()
    prompt = pair.prompt_record().conversation()
    answer = lambda text: {"role": "assistant", "content": text}  # noqa: E731
    extra = {k: v for k, v in pair.to_dict().items()
             if k not in ("instruction", "input", "system", "messages", "chosen", "rejected")}
    if layout == "trl":
        return {"prompt": prompt, "chosen": [answer(pair.chosen)], "rejected": [answer(pair.rejected)], **extra}
    first_user = next(m["content"] for m in prompt if m["role"] == "user")
    return {"prompt": first_user, "chosen": [*prompt, answer(pair.chosen)],
            "rejected": [*prompt, answer(pair.rejected)], **extra}


def write_pairs(path: str | Path, pairs: Iterable[Pair], layout: Layout = "text", array: bool | None = None) -> int:
    """Write pairs atomically as JSONL (or a JSON array for `.json`) in `layout`; returns the count."""
    path = Path(path)
    rows = (pair_to_row(p, layout) for p in pairs)
    return write_rows(path, rows, as_array=wants_array(path, {"array": array}))

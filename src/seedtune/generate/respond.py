"""Response generation: a teacher answers given instructions, optionally n samples each.

This is how "Instruction Tuning with GPT-4" (Peng et al. 2023) rebuilt Alpaca: keep the
instructions, replace the answers with a stronger teacher's. Records are processed in chunks;
each answer is cached as it arrives and each chunk written when complete, so a killed run resumes
where it stopped and pays again only for the requests that were in flight. Every
request's seed derives from (run seed, record position), so a rerun asks the same questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.generate.common import Run, TeacherConfig, derive_seed, rejected
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher


class RespondConfig(StrictModel):
    """Response-generation settings."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="Teacher, limits and budget.")
    n: int = Field(1, ge=1, description="Answers to sample per instruction (each becomes its own record).")
    seed: int = Field(0, description="Run seed; each request's seed derives from (seed, position).")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature (0 = greedy; use > 0 with n > 1).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(512, ge=1, description="Token budget per answer.")
    system: str | None = Field(None, description="System prompt for every request (a record's own system prompt wins).")
    chunk: int = Field(32, ge=1, description="Records per batch; output is written after each batch.")
    keep_truncated: bool = Field(False, description="Keep answers cut off by max_tokens (finish_reason 'length').")
    skip_answered: bool = Field(False, description="Pass records that already have an output through unchanged.")


def respond(records: Sequence[Record], out: str | Path, config: RespondConfig | None = None,
            teacher: Teacher | None = None, progress: bool = True) -> dict[str, Any]:
    """Answer every record's instruction (n samples each) and write the answered records to `out`."""
    config = config or RespondConfig()
    run = Run("respond", out, config.teacher, teacher, progress=progress, total=len(records) * config.n)
    try:
        for start in range(0, len(records), config.chunk):
            if run.should_stop():
                break
            _answer_chunk(run, list(records[start:start + config.chunk]), start, config)
    finally:
        summary = run.finish(inputs=len(records), n=config.n)
    return summary


def context_messages(record: Record, system: str | None) -> list[dict[str, str]]:
    """What the teacher sees: the conversation up to the answer it must give."""
    messages = record.conversation()
    if messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def answered(record: Record, text: str) -> Record:
    """The record with `text` as its answer (the last assistant turn for conversations)."""
    if record.messages:
        turns = [m for m in record.messages]
        if turns and turns[-1].role == "assistant":
            turns = turns[:-1]
        return record.with_(messages=[m.model_dump() for m in turns] + [{"role": "assistant", "content": text}])
    return record.with_(output=text)


def _answer_chunk(run: Run, chunk: list[Record], start: int, config: RespondConfig) -> None:
    todo = [(start + i, r) for i, r in enumerate(chunk) if not (config.skip_answered and r.output)]
    requests = [Request.chat(context_messages(r, config.system), max_tokens=config.max_tokens,
                             temperature=config.temperature, top_p=config.top_p, n=config.n,
                             seed=derive_seed(config.seed, "respond", position)) for position, r in todo]
    completions = dict(zip((p for p, _ in todo), run.ask(requests))) if requests else {}
    asked = {p for p, _ in todo}
    kept: list[Record] = []
    dropped: list[Record] = []
    for offset, record in enumerate(chunk):
        position = start + offset
        if position not in asked:
            kept.append(record)  # already answered and skip_answered is on
            continue
        if position not in completions:
            break  # the budget stopped the run: this record and the rest stay undone
        completion = completions[position]
        if completion.error is not None:  # the provider refused this one request: reject it, go on
            dropped.append(rejected(answered(record, "").with_(
                source="response", teacher=run.teacher_id, parent_ids=[record.id],
                meta={**record.meta, "method": "respond", "request_key": completion.key}),
                "provider_error", error=completion.error))
            continue
        seen: set[str] = set()
        for sample, text in enumerate(completion.texts):
            finish = completion.finish_reasons[sample] if sample < len(completion.finish_reasons) else "stop"
            result = answered(record, text.strip()).with_(
                source="response", teacher=run.teacher_id, parent_ids=[record.id],
                meta={**record.meta, "method": "respond", "sample": sample, "request_key": completion.key,
                      "finish_reason": finish})
            if not text.strip():
                dropped.append(rejected(result, "empty"))
            elif finish == "length" and not config.keep_truncated:
                dropped.append(rejected(result, "truncated"))
            elif text.strip() in seen:
                dropped.append(rejected(result, "duplicate_sample"))
            else:
                seen.add(text.strip())
                kept.append(result)
    run.drop(dropped)
    run.keep(kept)


__all__ = ["RespondConfig", "respond", "answered", "context_messages"]

"""Training data: records -> held-out split -> (prompt, target) -> labelled examples -> checks.

Pure data work, no model: everything here runs in seconds and is what the pre-flight report
prints before step 1.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seedtune.records import Record
from seedtune.train.tokenize import (
    CheckReport, Example, Specials, TokenizeReport, check_examples, tokenize_pairs, tokenize_turns,
)


def read_training_records(path: str | Path) -> list[Record]:
    """Read records with the shared readers (any supported format); refuse an empty file."""
    from seedtune.formats import read_required_records

    return read_required_records(path, "training data", missing_hint="pass --data with an existing file",
                                 empty_hint="check the file has at least one record")


def split_eval(records: Sequence[Record], fraction: float, seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Deterministic held-out split by a hash of the record id (stable when records are added).

    Below 20 records no split is made: a 1-row eval set measures noise, not generalisation.
    """
    if fraction <= 0 or len(records) < 20:
        return list(records), []
    train, held = [], []
    for r in records:
        h = int(hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held if h < fraction else train).append(r)
    if not held:  # tiny sets: hold out at least one
        held.append(train.pop())
    return train, held


@dataclass
class PreparedData:
    """Examples plus everything the pre-flight report shows."""

    train: list[Example]
    eval: list[Example]
    tokenize: TokenizeReport
    checks: CheckReport
    specials: Specials
    rows_eval: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    conversations: int = 0  # rows trained on every assistant turn of a conversation

    def summary(self) -> dict[str, Any]:
        c, t = self.checks, self.tokenize
        return {
            "records": t.rows_in, "kept": t.rows_kept, "eval_rows": len(self.eval),
            "truncated": t.truncated, "dropped_too_long": t.dropped_too_long,
            "dropped_empty_output": t.dropped_empty_target, "boundary_merges": t.boundary_merges,
            "prompt_never_trained": c.prompt_never_trained, "end_token_trained": c.end_token_trained,
            "every_row_trained": c.every_row_trained, "prompt_is_prefix": c.prompt_is_prefix,
            "trained_fraction": round(c.trained_fraction, 4), "trained_tokens": c.trained_tokens,
            "total_tokens": c.total_tokens, "failures": c.failures[:10],
            "all_turn_conversations": self.conversations,
        }


def render_rows(records: Sequence[Record], fmt: Any, all_turns: bool,
                turns_ok: bool) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """Records -> single-answer rows (prompt, target) and conversations trained on every answer.

    With `all_turns`, a conversation with several assistant turns becomes one row of
    [(context, answer)] pieces when the format can render them and the end marker is the end
    token (`turns_ok`); otherwise (Alpaca, custom Jinja, a template that rewrites earlier turns)
    one (prompt, target) row per assistant turn, each with its history. Without it, only the last
    answer is trained.
    """
    from seedtune.prompts.formats import assistant_prefixes

    pairs: list[tuple[str, str]] = []
    conversations: list[list[tuple[str, str]]] = []
    for record in records:
        answers = sum(m.role == "assistant" for m in record.messages or [])
        if not all_turns or answers < 2:
            pairs.append(fmt.render(record))
            continue
        pieces = fmt.render_turns(record) if turns_ok and hasattr(fmt, "render_turns") else None
        if pieces is None:
            pairs.extend(fmt.render(prefix) for prefix in assistant_prefixes(record))
        else:
            conversations.append(pieces)
    return pairs, conversations


def _tokenize_all(tokenizer: Any, records: Sequence[Record], fmt: Any, specials: Specials, max_length: int,
                  truncation: str, all_turns: bool) -> tuple[list[Example], TokenizeReport, list[str | None]]:
    """Examples for both kinds of rows (conversations numbered after the pairs), their joint
    counts, and per example the prompt text an independent tokenisation must reproduce."""
    marker = fmt.stop[0] if fmt.stop else ""
    turns_ok = bool(marker) and tokenizer(marker, add_special_tokens=False)["input_ids"] == [specials.end_id]
    pairs, conversations = render_rows(records, fmt, all_turns, turns_ok)
    single, report = tokenize_pairs(tokenizer, pairs, specials, max_length, truncation)
    multi, multi_report = tokenize_turns(tokenizer, conversations, specials, max_length, truncation)
    multi = [replace(ex, index=ex.index + len(pairs)) for ex in multi]
    for name in ("rows_in", "rows_kept", "truncated", "dropped_too_long", "dropped_empty_target"):
        setattr(report, name, getattr(report, name) + getattr(multi_report, name))
    prompts: list[str | None] = [pairs[ex.index][0] for ex in single]
    prompts += [None if ex.truncated else conversations[ex.index - len(pairs)][0][0] for ex in multi]
    return single + multi, report, prompts


def prepare(records: Sequence[Record], eval_records: Sequence[Record], fmt: Any, tokenizer: Any,
            max_length: int, truncation: str, all_turns: bool = True) -> PreparedData:
    """Render, tokenise, apply the length policy and run the label checks."""
    specials = Specials.from_tokenizer(tokenizer, fmt.stop)
    train, report, prompt_texts = _tokenize_all(tokenizer, records, fmt, specials, max_length, truncation, all_turns)
    held, _, _ = _tokenize_all(tokenizer, eval_records, fmt, specials, max_length, truncation, all_turns)
    # Prefix check on an independent path: how inference would tokenise the prompt alone.
    prompts = []
    for ex, prompt in zip(train, prompt_texts):
        if prompt is None:  # a conversation cut from the left: its first context is a fragment
            prompts.append(ex.input_ids[: ex.prompt_len])
            continue
        add = not (specials.bos_text and prompt.startswith(specials.bos_text))
        ids = tokenizer(prompt, add_special_tokens=add)["input_ids"]
        prompts.append(ids[len(ids) - ex.prompt_len:] if ex.truncated else ids)
    checks = check_examples(train, specials.end_id, prompts)
    sources = Counter(r.source for r in records)
    return PreparedData(train=train, eval=held, tokenize=report, checks=checks, specials=specials,
                        sources=dict(sources), conversations=sum(bool(ex.spans) for ex in train))


def lineage(path: str | Path, records: Sequence[Record], base_model: str, resolved: str) -> dict[str, Any]:
    """Where the model came from: data hash, counts, sources, teachers, curation reasons."""
    from seedtune.io import sha256_file

    return {
        "data_file": Path(path).name,
        "data_sha256": sha256_file(path),
        "records": len(records),
        "sources": dict(Counter(r.source for r in records)),
        "teachers": dict(Counter(r.teacher for r in records if r.teacher)),
        "kept_reasons": dict(Counter(r.kept_reason for r in records if r.kept_reason)),
        "languages": dict(Counter(r.lang for r in records if r.lang)),
        "base_model": base_model,
        "base_model_resolved": Path(resolved).name,
    }

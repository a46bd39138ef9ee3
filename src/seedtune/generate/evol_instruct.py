"""Evol-Instruct (Xu et al. 2023, "WizardLM: Empowering Large Language Models to Follow Complex
Instructions"), read top to bottom:

1. Each round, every instruction in the pool gets one operation, drawn with an RNG seeded by
   (seed, round, position): in-depth (add constraints, deepen, concretise, increase reasoning
   steps, complicate the input) or in-breadth (a new, rarer prompt in the same domain).
2. The teacher rewrites the instruction with that operation's template.
3. The evolved instruction is answered, and eliminated when (the paper's four rules):
   a. the teacher judges it equal to its parent (no information gain);
   b. the answer says sorry and is short (< 80 words): the prompt is too hard or broken;
   c. the answer is only punctuation and stop words;
   d. the evolved prompt copies the method's own wording ("rewritten prompt", "#Given Prompt#").
4. A survivor is written (instruction + answer) and replaces its parent in the pool; an
   eliminated one is written to `<out>.rejected.jsonl` with its reason and the parent stays.
5. Repeat for `rounds` (M) rounds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.generate.common import Run, TeacherConfig, derive_seed, pick_lang, rejected, render, rng_for
from seedtune.lexicon import SORRY_WORDS, join_instruction
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher
from seedtune.textsim import length_units

IN_DEPTH = ("constraints", "deepen", "concretize", "reasoning", "complicate_input")
IN_BREADTH = ("breadth",)
OPERATIONS = IN_DEPTH + IN_BREADTH


class EvolConfig(StrictModel):
    """Evol-Instruct settings."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="Teacher, limits and budget.")
    rounds: int = Field(4, ge=1, description="Evolution rounds M (the paper: 4).")
    seed: int = Field(0, description="Run seed; operation choice and request seeds derive from (seed, round, position).")
    operations: list[str] = Field(list(OPERATIONS), min_length=1, description=f"Operations to draw from: {', '.join(OPERATIONS)}.")
    lang: str = Field("auto", pattern="^(auto|en|zh)$", description="Template language; auto follows each instruction.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature for rewrites and answers.")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus mass for rewrites and answers.")
    max_tokens: int = Field(256, ge=16, description="Token budget of a rewrite.")
    response_max_tokens: int = Field(512, ge=16, description="Token budget of an answer.")
    judge_equal: bool = Field(True, description="Ask the teacher whether the rewrite equals its parent (rule a).")
    sorry_max_words: int = Field(80, ge=1, description="An answer saying sorry with fewer words than this eliminates (rule b).")
    chunk: int = Field(32, ge=1, description="Instructions per batch within a round; output is written after each batch.")


# -- elimination rules ------------------------------------------------------------------------------

# Wording of our own templates (and the paper's) that a careless rewrite copies into the prompt.
METHOD_WORDING = ("given prompt", "rewritten prompt", "new prompt", "#rewritten", "#given", "the prompt below",
                  "rewrite the prompt", "改写后的提示", "给定的提示", "新的提示", "下面的提示")
SORRY = SORRY_WORDS  # seedtune.lexicon
STOP_WORDS = frozenset(
    "a an the and or but if of to in on at by for with as is are was were be been being it this that these those "
    "i you he she we they me him her us them my your his its our their so not no yes do does did ok okay "
    "的 了 是 在 和 与 或 也 就 都 而 及 着 吧 呢 吗 啊 嗯 好".split())


def copied_wording(text: str) -> bool:
    lowered = text.lower()
    return any(w in lowered for w in METHOD_WORDING)


def sorry_and_short(answer: str, max_words: int) -> bool:
    lowered = answer.lower()
    return any(w in lowered for w in SORRY) and length_units(answer) < max_words


def only_stop_words(answer: str) -> bool:
    """True when nothing is left after removing punctuation and stop words (CJK split per character)."""
    tokens = re.findall(r"[^\W_]+", answer.lower())
    words = []
    for token in tokens:
        words.extend(list(token) if re.match(r"[\u4e00-\u9fff]", token) else [token])
    return all(w in STOP_WORDS for w in words)


def judged_equal(reply: str) -> bool:
    head = reply.strip().lower().lstrip("*\"' ")
    return head.startswith(("equal", "相同", "same", "yes"))


_REWRITE_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:#?\s*(?:new|rewritten|evolved|created)\s+prompt#?|prompt|新的提示|改写后的提示|提示)"
                             r"(?:\*\*)?\s*[:：]\s*", re.IGNORECASE)


def parse_rewrite(reply: str) -> str:
    """The evolved prompt: the reply without a leading label or wrapping quotes."""
    text = _REWRITE_PREFIX.sub("", reply.strip()).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text


# -- the run ----------------------------------------------------------------------------------------


def evol_instruct(records: Sequence[Record], out: str | Path, config: EvolConfig | None = None,
                  teacher: Teacher | None = None, progress: bool = True) -> dict[str, Any]:
    """Evolve every record's instruction for `config.rounds` rounds; survivors (answered) go to `out`."""
    config = config or EvolConfig()
    unknown = [op for op in config.operations if op not in OPERATIONS]
    if unknown:
        from seedtune.errors import ConfigError

        raise ConfigError(f"unknown operation(s) {', '.join(unknown)}", key="operations",
                          hint=f"choose from: {', '.join(OPERATIONS)}")
    run = Run("evol", out, config.teacher, teacher, progress=progress, total=len(records) * config.rounds)
    pool = list(records)
    try:
        for round_ in range(1, config.rounds + 1):
            for start in range(0, len(pool), config.chunk):
                if run.should_stop():
                    break
                pool[start:start + config.chunk] = _evolve_chunk(run, pool[start:start + config.chunk], start,
                                                                 round_, config)
            if run.should_stop():
                break
    finally:
        summary = run.finish(inputs=len(records), rounds=config.rounds)
    return summary


def _evolve_chunk(run: Run, chunk: list[Record], start: int, round_: int, config: EvolConfig) -> list[Record]:
    """Evolve one batch; returns the pool entries for the next round (survivor or parent)."""
    ops, langs, requests = [], [], []
    for offset, parent in enumerate(chunk):
        position = start + offset
        op = rng_for(config.seed, "evol-op", round_, position).choice(config.operations)
        lang = pick_lang(config.lang, parent.instruction + " " + parent.input)
        ops.append(op)
        langs.append(lang)
        requests.append(Request.user(render(f"evol_{op}", lang, instruction=parent.instruction, input=parent.input),
                                     max_tokens=config.max_tokens, temperature=config.temperature, top_p=config.top_p,
                                     seed=derive_seed(config.seed, "evol", round_, position)))
    rewrites = run.ask(requests)
    candidates: list[Record | None] = []
    dropped: list[Record] = []
    for parent, op, lang, completion in zip(chunk, ops, langs, rewrites):
        evolved = parse_rewrite(completion.text)
        record = Record(instruction=evolved or "(empty)", source="evol", teacher=run.teacher_id,
                        round=round_, parent_ids=[parent.id], category=parent.category, task=parent.task,
                        meta={"method": "evol", "operation": op,
                              "kind": "in-breadth" if op in IN_BREADTH else "in-depth",
                              "template_id": f"evol_{op}.{lang}", "request_key": completion.key})
        if completion.error is not None:
            dropped.append(rejected(record, "provider_error", error=completion.error))
            candidates.append(None)
        elif not evolved:
            dropped.append(rejected(record, "empty_rewrite"))
            candidates.append(None)
        elif copied_wording(evolved):
            dropped.append(rejected(record, "copied_method_wording"))
            candidates.append(None)
        else:
            candidates.append(record)
    live = [i for i, c in enumerate(candidates) if c is not None]
    answers = run.ask([Request.user(candidates[i].instruction, max_tokens=config.response_max_tokens,
                                    temperature=config.temperature, top_p=config.top_p,
                                    seed=derive_seed(config.seed, "evol-answer", round_, start + i)) for i in live])
    judgements: dict[int, Any] = {}
    if config.judge_equal:
        judge_requests = [Request.user(render("evol_equal", langs[i], first=_full(chunk[i]), second=candidates[i].instruction),
                                       max_tokens=4, temperature=0.0) for i in live]
        judgements = dict(zip(live, run.ask(judge_requests)))
    next_pool = list(chunk)
    kept: list[Record] = []
    for i, answer in zip(live, answers):
        if config.judge_equal and i not in judgements:
            break  # the budget stopped the run before this one was judged
        record = candidates[i].with_(output=answer.text.strip(),
                                     meta={**candidates[i].meta, "response_request_key": answer.key,
                                           **({"judge_request_key": judgements[i].key} if i in judgements else {})})
        reason = None
        error = answer.error or (judgements[i].error if i in judgements else None)
        if error is not None:
            dropped.append(rejected(record, "provider_error", error=error))
            continue
        if i in judgements and judged_equal(judgements[i].text):
            reason = "no_information_gain"
        elif sorry_and_short(record.output, config.sorry_max_words):
            reason = "response_sorry_short"
        elif only_stop_words(record.output):
            reason = "response_only_stop_words"
        if reason:
            dropped.append(rejected(record, reason))
        else:
            kept.append(record)
            next_pool[i] = record
    run.drop(dropped)
    run.keep(kept)
    return next_pool


def _full(record: Record) -> str:
    return join_instruction(record.instruction, record.input)

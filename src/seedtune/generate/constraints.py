"""Constraint data that is correct by construction: verifiable instructions added to existing
records, with targets a checker has verified.

For each input record (seeds, a pool) pick 1-3 compatible constraints from the allowed families
and build the target from the record's own answer by a transformation (lowercase, capitals,
JSON wrapping, a title, bullets from its sentences, a postscript, an end phrase, quotation marks,
full-width punctuation) or by choosing bounds the answer already meets (word, character and
sentence counts, no commas). With a teacher, the teacher rewrites the answer to follow the
constraints instead. Either way the result goes through the checkers (`seedtune.verifiable`):
a record is written as kept only if every constraint holds strictly; the rest go to
`<out>.rejected.jsonl` with the failing ids. Kept records carry `source: constraints`, the
constraint ids + kwargs and the verdicts in `meta`, and their parent's id.

Without a teacher the output is a pure function of (input, config) and is written atomically.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from seedtune.config import StrictModel
from seedtune.generate.common import Run, TeacherConfig, derive_seed, rejected, render, rng_for, side_path
from seedtune.io import write_json, write_jsonl
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher
from seedtune.verifiable import (FAMILIES, TRAINING_FAMILIES, Constraint, constraints_meta, describe, family_of,
                                 make_constraint, score)
from seedtune.verifiable.text import HAN_RE, count_han, count_words, guess_language, sentences, words


class ConstraintsConfig(StrictModel):
    """Which constraints are added and how targets are made."""

    families: list[str] = Field(default_factory=lambda: list(TRAINING_FAMILIES), description="Constraint families to draw from (default: the training families; the held-out ones stay unseen for evaluation).")
    min_constraints: int = Field(1, ge=1, le=3, description="Fewest constraints per record.")
    max_constraints: int = Field(3, ge=1, le=3, description="Most constraints per record.")
    copies: int = Field(1, ge=1, le=8, description="Constrained variants made from each input record (each with its own draw).")
    limit: int | None = Field(None, ge=1, description="Keep at most this many constrained records: a seeded sample of those that pass (transformations), or stop once this many passed (teacher).")
    seed: int = Field(0, description="Seed for every draw; same input + seed = same output.")
    teacher: TeacherConfig | None = Field(None, description="Rewrite answers with this teacher (verify-or-drop) instead of by transformation; null: transformations only.")
    max_tokens: int = Field(512, ge=1, description="Token budget of a teacher rewrite.")
    chunk: int = Field(32, ge=1, description="Records per teacher batch.")

    @field_validator("families")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FAMILIES]
        if unknown or not value:
            raise ValueError(f"unknown or no families {unknown}; known: {', '.join(FAMILIES)}")
        return value


# -- recipes: how each constraint is built from an answer ----------------------------------------

Build = Callable[[str, random.Random, str, Record], "tuple[dict[str, Any], str] | None"]


@dataclass(frozen=True)
class Recipe:
    """How one constraint id is made: `build(text, rng, lang, record) -> (kwargs, new text)` or
    None when the answer does not suit it. Recipes run in `stage` order (content changes, then
    additions, wrappers, case, and last the bounds measured on the final text); two recipes that
    claim the same `slot` never go together."""

    id: str
    stage: int
    slots: frozenset[str]
    langs: tuple[str, ...]
    build: Build


def _round_up(n: int, step: int) -> int:
    return max(step, int(math.ceil((n + 1) / step)) * step)


def _plain(text: str) -> bool:
    """Prose only: no code, tables or existing lists that a transformation could break."""
    return "```" not in text and "|" not in text and not re.search(r"^\s*([*-]|\d+\.)\s", text, re.MULTILINE)


def _bullets(text, rng, lang, record):
    parts = sentences(text)
    if not _plain(text) or not 2 <= len(parts) <= 6:
        return None
    return {"num_bullets": len(parts)}, "\n".join(f"* {p}" for p in parts)


_FULLWIDTH = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}


def _fullwidth(text, rng, lang, record):
    if len(re.findall(r"[A-Za-z]", text)) > count_han(text) or "```" in text:
        return None  # mostly Latin text or code: full-width marks would damage it
    out = re.sub(r"[,!?:;()]", lambda m: _FULLWIDTH[m.group(0)], text)
    out = re.sub(r"(?<!\d)\.(?!\d)", "。", out)
    return {}, out


def _title_words(record: Record, lang: str) -> str:
    if lang == "zh":
        return "".join(HAN_RE.findall(record.instruction))[:8]
    return " ".join(w.capitalize() for w in words(record.instruction)[:6])


def _title(text, rng, lang, record):
    name = _title_words(record, lang)
    return ({}, f"<<{name}>>\n\n{text}") if name else None


def _zh_title(text, rng, lang, record):
    name = _title_words(record, "zh")
    return ({}, f"《{name}》\n{text}") if len(name) >= 2 else None


_END_PHRASES = {"en": ("Is there anything else I can help with?", "Let me know if you have more questions.",
                       "I hope this helps."),
                "zh": ("还有其他问题吗？", "希望对你有帮助。", "以上就是我的回答。")}
_POSTSCRIPTS = {"en": (("P.S.", "Feel free to ask a follow-up question."), ("P.P.S", "Thanks for reading.")),
                "zh": (("附言：", "如有疑问欢迎继续提问。"), ("附言：", "祝你一切顺利。"))}


def _end(text, rng, lang, record):
    phrase = rng.choice(_END_PHRASES[lang])
    return {"end_phrase": phrase}, f"{text}\n\n{phrase}"


def _postscript(text, rng, lang, record):
    marker, note = rng.choice(_POSTSCRIPTS[lang])
    return {"postscript_marker": marker}, f"{text}\n\n{marker} {note}"


def _quotation(text, rng, lang, record):
    return {}, f'"{text}"'


def _json(text, rng, lang, record):
    return {}, json.dumps({"answer": text}, ensure_ascii=False)


def _english_prose(text: str) -> bool:
    return _plain(text) and guess_language(text) == "en"


def _lower(text, rng, lang, record):
    return ({}, text.lower()) if _english_prose(text) else None


def _upper(text, rng, lang, record):
    return ({}, text.upper()) if _english_prose(text) else None


def _bound(n: int, rng: random.Random, step: int, upper: str, minimum: int) -> dict[str, Any] | None:
    """A bound the measured count `n` meets: an upper bound just above it or a lower bound below."""
    if n < minimum:
        return None
    if rng.random() < 0.5 or n < step:
        return {"relation": upper, "value": _round_up(n, step) if upper == "less than" else _round_up(n - 1, step)}
    return {"relation": "at least", "value": (n // step) * step}


def _n_words(text, rng, lang, record):
    b = _bound(count_words(text), rng, 10, "less than", 3)
    return ({"num_words": b["value"], "relation": b["relation"]}, text) if b else None


def _n_sentences(text, rng, lang, record):
    b = _bound(len(sentences(text)), rng, 2, "less than", 1)
    if b and b["relation"] == "less than":
        b["value"] = len(sentences(text)) + rng.randint(1, 2)
    return ({"num_sentences": b["value"], "relation": b["relation"]}, text) if b else None


def _zh_chars(text, rng, lang, record):
    b = _bound(count_han(text), rng, 10, "at most", 5)
    return ({"num_chars": b["value"], "relation": b["relation"]}, text) if b else None


def _zh_sentences(text, rng, lang, record):
    n = len([p for p in re.split(r"[。！？!?]+", text) if p.strip()])
    relation = rng.choice(("at most", "at least", "exactly"))
    return ({"num_sentences": n, "relation": relation}, text) if n else None


def _no_comma(text, rng, lang, record):
    return ({}, text) if "," not in text else None


def _zh_no_comma(text, rng, lang, record):
    return ({}, text) if "," not in text and "，" not in text else None


def _caps_words(text, rng, lang, record):
    k = sum(1 for w in words(text) if w.isupper())
    if k >= 2 and rng.random() < 0.5:
        return {"capital_frequency": k, "capital_relation": "at least"}, text
    return {"capital_frequency": k + rng.randint(1, 3), "capital_relation": "less than"}, text


def _r(cid: str, stage: int, slots: str, langs: str, build: Build) -> Recipe:
    return Recipe(cid, stage, frozenset(slots.split()), tuple(langs.split()), build)


RECIPES: tuple[Recipe, ...] = (
    _r("detectable_format:number_bullet_lists", 0, "layout", "en zh", _bullets),
    _r("zh:fullwidth_punctuation", 0, "punct", "zh", _fullwidth),
    _r("detectable_format:title", 1, "start", "en zh", _title),
    _r("zh:title_brackets", 1, "start", "zh", _zh_title),
    _r("startend:end_checker", 1, "end", "en zh", _end),
    _r("detectable_content:postscript", 1, "end", "en zh", _postscript),
    _r("startend:quotation", 2, "start end whole layout", "en zh", _quotation),
    _r("detectable_format:json_format", 2, "end whole start layout case punct", "en zh", _json),
    _r("change_case:english_lowercase", 3, "case", "en", _lower),
    _r("change_case:english_capital", 3, "case", "en", _upper),
    _r("length_constraints:number_words", 4, "length", "en", _n_words),
    _r("length_constraints:number_sentences", 4, "length", "en", _n_sentences),
    _r("zh:char_count", 4, "length", "zh", _zh_chars),
    _r("zh:sentence_count", 4, "length", "zh", _zh_sentences),
    _r("punctuation:no_comma", 4, "punct", "en", _no_comma),
    _r("zh:no_comma", 4, "punct", "zh", _zh_no_comma),
    _r("change_case:capital_word_frequency", 4, "case", "en", _caps_words),
)


# -- drawing and building -------------------------------------------------------------------------

def draw(recipes: Sequence[Recipe], rng: random.Random, k: int, lang: str) -> list[Recipe]:
    """Up to `k` recipes for `lang` with no shared slot, in application order."""
    pool = [r for r in recipes if lang in r.langs]
    rng.shuffle(pool)
    chosen: list[Recipe] = []
    used: set[str] = set()
    for recipe in pool:
        if len(chosen) == k:
            break
        if not recipe.slots & used:
            chosen.append(recipe)
            used |= recipe.slots
    return sorted(chosen, key=lambda r: r.stage)


def build(record: Record, plan: Sequence[Recipe], rng: random.Random, lang: str) -> tuple[list[Constraint], str] | None:
    """Apply the plan to the record's answer; None when a recipe does not suit this answer."""
    text = record.output.strip()
    constraints = []
    for recipe in plan:
        made = recipe.build(text, rng, lang, record)
        if made is None:
            return None
        kwargs, text = made
        constraints.append(make_constraint(recipe.id, kwargs))
    return constraints, text


def constrained_instruction(record: Record, constraints: Sequence[Constraint], lang: str) -> str:
    joiner = "" if lang == "zh" else " "
    return record.instruction.rstrip() + "\n\n" + joiner.join(describe(c, lang) for c in constraints)


def _result(record: Record, constraints: list[Constraint], text: str, lang: str, mode: str, copy: int,
            teacher: str | None = None) -> Record:
    verdict = score(text, constraints, prompt=record.instruction)
    meta = {**constraints_meta(constraints, verdict), "method": "constraints", "mode": mode, "copy": copy,
            "families": sorted({family_of(c.id) for c in constraints})}
    out = record.with_(instruction=constrained_instruction(record, constraints, lang), output=text,
                       source="constraints", parent_ids=[record.id], lang=lang, teacher=teacher, meta=meta,
                       # a constrained variant is an instance of its parent's task: deduplication
                       # groups it with the parent instead of dropping it as a near-copy
                       task=record.task or record.id,
                       messages=None, kept_reason=None, scores={})
    if not verdict.prompt_strict:
        failed = [c.id for c, ok in zip(constraints, verdict.strict) if not ok]
        return rejected(out, "failed_check", ids=failed)
    return out


def _lang(record: Record) -> str:
    return "zh" if (record.lang or "en") == "zh" else "en"


def _eligible(record: Record) -> bool:
    return bool(record.output.strip()) and not record.messages


def _plans(records: Sequence[Record], config: ConstraintsConfig, recipes: Sequence[Recipe]):
    """(position, copy, record, lang, rng, plan) for every draw, deterministic in (seed, position, copy)."""
    usable = [r for r in recipes if family_of(r.id) in config.families]
    for position, record in enumerate(records):
        if not _eligible(record):
            continue
        lang = _lang(record)
        for copy in range(config.copies):
            rng = rng_for(config.seed, "constraints", position, copy)
            k = rng.randint(config.min_constraints, max(config.min_constraints, config.max_constraints))
            plan = draw(usable, rng, k, lang)
            if plan:
                yield position, copy, record, lang, rng, plan


def add_constraints(records: Sequence[Record], out: str | Path, config: ConstraintsConfig | None = None,
                    teacher: Teacher | None = None, recipes: Sequence[Recipe] = RECIPES,
                    progress: bool = True) -> dict[str, Any]:
    """Write constrained copies of `records` to `out` (JSONL); every kept record passes its checkers."""
    config = config or ConstraintsConfig()
    if config.teacher is not None or teacher is not None:
        return _with_teacher(records, Path(out), config, teacher, recipes, progress)
    kept: list[Record] = []
    dropped: list[Record] = []
    unsuited = 0
    for _, copy, record, lang, rng, plan in _plans(records, config, recipes):
        made = build(record, plan, rng, lang)
        if made is None:
            unsuited += 1
            continue
        result = _result(record, made[0], made[1], lang, "transform", copy)
        (dropped if result.meta.get("rejected") else kept).append(result)
    if config.limit and len(kept) > config.limit:
        # a seeded sample, in input order, so the kept share of each language and constraint is kept too
        chosen = sorted(rng_for(config.seed, "constraints-limit").sample(range(len(kept)), config.limit))
        kept = [kept[i] for i in chosen]
    return _write(Path(out), records, kept, dropped, unsuited=unsuited)


def _write(out: Path, records: Sequence[Record], kept: list[Record], dropped: list[Record], **extra: Any) -> dict[str, Any]:
    unique = list({r.id: r for r in kept}.values())  # two draws can build the same record
    write_jsonl(out, unique)
    write_jsonl(side_path(out, "rejected.jsonl"), dropped)
    summary = _summary(records, unique, dropped, out, **extra)
    write_json(side_path(out, "stats.json"), summary)
    return summary


def _summary(records: Sequence[Record], kept: Sequence[Record], dropped: Sequence[Record], out: Path,
             **extra: Any) -> dict[str, Any]:
    ids = Counter(c["id"] for r in kept for c in r.meta["constraints"])
    failed = Counter(i for r in dropped for i in r.meta.get("detail", {}).get("ids", []))
    return {"method": "constraints", "output": out.name, "inputs": len(records), "accepted": len(kept),
            "rejected": len(dropped), "rejected_by_reason": dict(Counter(r.meta["rejected"] for r in dropped)),
            "by_constraint": dict(sorted(ids.items())), "failed_by_constraint": dict(sorted(failed.items())),
            "by_lang": dict(Counter(r.lang for r in kept)), **extra}


def _with_teacher(records: Sequence[Record], out: Path, config: ConstraintsConfig, teacher: Teacher | None,
                  recipes: Sequence[Recipe], progress: bool) -> dict[str, Any]:
    """Verify-or-drop: the teacher rewrites each answer to follow its constraints (the kwargs come
    from the same recipes, measured on the original answer); only rewrites passing every checker
    are kept. Resumable like every teacher-driven method."""
    plans = list(_plans(records, config, recipes))
    run = Run("constraints", out, config.teacher or TeacherConfig(), teacher, progress=progress, total=len(plans))
    try:
        for start in range(0, len(plans), config.chunk):
            if run.should_stop() or (config.limit and run.accepted.position >= config.limit):
                break
            _rewrite_chunk(run, plans[start:start + config.chunk], config)
    finally:
        summary = run.finish(inputs=len(records), mode="teacher")
    return summary


def _rewrite_chunk(run: Run, plans: list, config: ConstraintsConfig) -> None:
    jobs = []
    for position, copy, record, lang, rng, plan in plans:
        made = build(record, plan, rng, lang)
        if made is not None:
            jobs.append((position, copy, record, lang, made[0]))
    requests = [Request.chat([{"role": "user", "content": render(
        "constraints_rewrite", lang, instruction=record.instruction, input=record.input, output=record.output,
        rules=[describe(c, lang) for c in cs])}], max_tokens=config.max_tokens, temperature=0.0,
        seed=derive_seed(config.seed, "constraints", position, copy)) for position, copy, record, lang, cs in jobs]
    completions = run.ask(requests) if requests else []
    kept, dropped = [], []
    for (position, copy, record, lang, cs), completion in zip(jobs, completions):
        result = _result(record, cs, completion.text.strip(), lang, "teacher", copy, teacher=run.teacher_id)
        (dropped if result.meta.get("rejected") else kept).append(result)
    run.drop(dropped)
    run.keep(kept)


__all__ = ["ConstraintsConfig", "Recipe", "RECIPES", "add_constraints", "build", "draw", "constrained_instruction"]

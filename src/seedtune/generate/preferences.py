"""Preference pairs: sample several answers per prompt, score them, keep a chosen and a rejected one.

The answers come from a model through the teacher machinery (cached, resumable): by default the
tuned student itself (`hf:DIR` of the SFT model), so the pairs are on-policy, the way SmolLM2 and
Tulu 3 built theirs. Each prompt is scored by the first route that applies to it:

1. `checkers`: the record carries verifiable constraints (`seedtune generate constraints`, the
   heldout-if layout). An answer's score is the share of its constraints that hold; chosen passes
   every one, rejected fails at least one. Offline, no judge: the verdicts are facts.
2. `reference`: the record has an answer. Scores are ROUGE-L (or exact match) against it.
3. `judge`: a pairwise judge compares two answers in both orders (position swap); used only when
   the judge passed its check on known pairs. Verdicts that flip with the order are dropped.

Among eligible (chosen, rejected) combinations the one with the largest score gap is taken, and
among equal gaps the one whose answers are closest in length, so a pair teaches what the scorer
measured rather than "longer is better". Prompts without a usable pair (too few distinct answers,
all pass, none pass, a tie, a judge flip) go to `<out>.rejected.jsonl` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.errors import ConfigError
from seedtune.formats.pairs import Pair
from seedtune.generate.common import Run, TeacherConfig, derive_seed, rejected
from seedtune.generate.respond import context_messages
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher
from seedtune.textsim import exact_match, length_units, rouge_l

Route = Literal["checkers", "reference", "judge"]


class JudgeSettings(StrictModel):
    """The pairwise judge for prompts that neither checkers nor a reference can score."""

    teacher: str = Field(..., description="Judge teacher: hf:NAME, openai:MODEL or vllm:NAME.")
    base_url: str | None = Field(None, description="Endpoint for an openai: judge.")
    verdict: Literal["auto", "generate", "logprobs"] = Field("auto", description="How verdicts are read (see `seedtune eval --judge-verdict`).")
    max_tokens: int = Field(384, ge=1, description="Length limit of a written verdict.")
    check: int = Field(40, ge=1, description="Known pairs (a record's answer vs a wrong one) the judge must get right first; below the threshold its route is off.")
    dtype: str | None = Field(None, description="Weights dtype for a local judge.")


class PreferencesConfig(StrictModel):
    """How answers are sampled and how a pair is decided."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="The model that writes the answers: hf:DIR of the tuned student (on-policy) or any teacher.")
    n: int = Field(4, ge=2, description="Answers sampled per prompt.")
    seed: int = Field(0, description="Run seed; each prompt's sampling seed derives from (seed, position).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature (diverse answers make informative pairs).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(256, ge=1, description="Token budget per answer; answers cut off by it are not used.")
    system: str | None = Field(None, description="System prompt for every request (a record's own wins).")
    chunk: int = Field(16, ge=1, description="Prompts per batch; pairs are written after each batch.")
    routes: list[Route] = Field(default_factory=lambda: ["checkers", "reference", "judge"], description="Scorers to try, in order; the first that applies to a prompt decides it.")
    loose: bool = Field(False, description="checkers: count a constraint as met under IFEval's loose reading (default strict).")
    reference_metric: Literal["rouge_l", "exact_match"] = Field("rouge_l", description="reference: how an answer is compared with the record's answer.")
    min_margin: float = Field(0.1, ge=0, description="reference: score gaps below this are ties (dropped).")
    judge: JudgeSettings | None = Field(None, description="Pairwise judge settings; null: no judge route.")


class PairJudge(Protocol):
    """What the judge route needs; `seedtune.generate.pair_judge` adapts the LLM judge to it."""

    judge_id: str

    def check(self, records: Sequence[Record]) -> dict[str, Any]:
        """Ask about known pairs built from `records`' answers; the result has `reliable: bool`."""
        ...

    def compare(self, items: Sequence[tuple[str, str, str, str]]) -> list[tuple[str | None, str | None]]:
        """(question, answer_a, answer_b, lang) -> (verdict with A shown first, verdict with B shown
        first in the original names), each 'A', 'B', 'tie' or None when unreadable."""
        ...


def preferences(records: Sequence[Record], out: str | Path, config: PreferencesConfig | None = None,
                teacher: Teacher | None = None, judge: PairJudge | None = None, progress: bool = True) -> dict[str, Any]:
    """Write one pair per prompt that yields one to `out` (JSONL); the rest to the rejected file."""
    config = config or PreferencesConfig()
    if config.judge is not None and judge is None and "judge" in config.routes:
        raise ConfigError("a judge is configured but none was opened", key="judge",
                          hint="call seedtune.generate.pair_judge.open_pair_judge(config.judge) and pass judge=")
    run = Run("preferences", out, config.teacher, teacher, progress=progress, total=len(records))
    check = judge.check(records) if (judge is not None and "judge" in config.routes) else None
    judge_ok = bool(check and check.get("reliable"))
    stats: dict[str, list[tuple[float, int, int]]] = {}
    try:
        for start in range(0, len(records), config.chunk):
            if run.should_stop():
                break
            _chunk(run, list(records[start:start + config.chunk]), start, config, judge if judge_ok else None,
                   judge is not None, stats)
    finally:
        summary = run.finish(inputs=len(records), n=config.n, judge=(judge.judge_id if judge else None),
                             judge_check=check, **_pair_stats(stats))
    return summary


def _chunk(run: Run, chunk: list[Record], start: int, config: PreferencesConfig, judge: PairJudge | None,
           judge_configured: bool, stats: dict[str, list[tuple[float, int, int]]]) -> None:
    requests = [Request.chat(context_messages(r, config.system), max_tokens=config.max_tokens,
                             temperature=config.temperature, top_p=config.top_p, n=config.n,
                             seed=derive_seed(config.seed, "preferences", start + i)) for i, r in enumerate(chunk)]
    completions = run.ask(requests)
    decided: list[tuple[Record, list[str], Any]] = []  # (record, answers, Decision | reason)
    to_judge: list[int] = []
    for record, completion in zip(chunk, completions):
        answers = _distinct(completion.texts, completion.finish_reasons)
        result = _decide(record, answers, config, judge, judge_configured)
        if result == "judge":
            to_judge.append(len(decided))
        decided.append((record, answers, result))
    if to_judge:
        items = [(_question(decided[k][0]), decided[k][1][0], decided[k][1][1], decided[k][0].lang or "en")
                 for k in to_judge]
        for k, verdict in zip(to_judge, judge.compare(items)):  # type: ignore[union-attr]
            record, answers, _ = decided[k]
            decided[k] = (record, answers, _from_verdict(verdict))
    kept, dropped = [], []
    for record, answers, result in decided:
        if isinstance(result, str):
            dropped.append(rejected(record, result, answers=len(answers)))
            continue
        pair = Pair.from_record(record, answers[result.chosen], answers[result.rejected], margin=round(result.margin, 4),
                                how=result.how, source="preferences", teacher=run.teacher_id,
                                meta={**result.meta, "parent_id": record.id, "answers": len(answers),
                                      "chosen_index": result.chosen, "rejected_index": result.rejected})
        stats.setdefault(result.how, []).append((result.margin, length_units(pair.chosen), length_units(pair.rejected)))
        kept.append(pair)
    run.drop(dropped)
    run.keep(kept)  # type: ignore[arg-type]  (a Pair has the id and to_dict the sink needs)


def _distinct(texts: Sequence[str], finish: Sequence[str]) -> list[str]:
    """Usable answers: stripped, non-empty, not cut off by max_tokens, first copy of each."""
    out: list[str] = []
    for i, text in enumerate(texts):
        text = text.strip()
        if text and (finish[i] if i < len(finish) else "stop") != "length" and text not in out:
            out.append(text)
    return out


@dataclass
class Decision:
    """Which answers became chosen and rejected (indices), by how much, decided how."""

    chosen: int
    rejected: int
    margin: float
    how: str
    meta: dict[str, Any]


def _decide(record: Record, answers: list[str], config: PreferencesConfig, judge: PairJudge | None,
            judge_configured: bool) -> Decision | str:
    """A Decision, 'judge' (to be asked in the batch), or the reason there is no pair."""
    if len(answers) < 2:
        return "too_few_answers"
    from seedtune.verifiable import constraints_of

    constraints = constraints_of(record)
    reference = _reference(record)
    for route in config.routes:
        if route == "checkers" and constraints:
            return _by_checkers(record, answers, constraints, config.loose)
        if route == "reference" and reference:
            return _by_reference(answers, reference, config)
        if route == "judge" and judge_configured:
            return "judge" if judge is not None else "judge_unreliable"
    return "no_signal"


def _question(record: Record) -> str:
    """The user turn the answers reply to."""
    return context_messages(record, None)[-1]["content"]


def _reference(record: Record) -> str:
    if record.messages:
        last = record.messages[-1]
        return last.content.strip() if last.role == "assistant" else ""
    return record.output.strip()


def _by_checkers(record: Record, answers: list[str], constraints: list[Any], loose: bool) -> Decision | str:
    from seedtune.verifiable import score

    verdicts = [score(a, constraints, prompt=_question(record)) for a in answers]
    passed = [v.loose if loose else v.strict for v in verdicts]
    scores = [sum(p) / len(p) for p in passed]
    good = [i for i, p in enumerate(passed) if all(p)]
    bad = [i for i, p in enumerate(passed) if not all(p)]
    if not good:
        return "none_pass"
    if not bad:
        return "all_pass"
    c, r = _best_pair(good, bad, scores, answers)
    meta = {"constraints": [x.to_dict() for x in constraints], "scores": [round(s, 4) for s in scores],
            "checks_chosen": passed[c], "checks_rejected": passed[r], "checks_mode": "loose" if loose else "strict"}
    return Decision(c, r, scores[c] - scores[r], "checkers", meta)


def _by_reference(answers: list[str], reference: str, config: PreferencesConfig) -> Decision | str:
    metric = rouge_l if config.reference_metric == "rouge_l" else exact_match
    scores = [metric(a, reference) for a in answers]
    top, bottom = max(scores), min(scores)
    if top - bottom < max(config.min_margin, 1e-9):
        return "tie"
    good = [i for i, s in enumerate(scores) if s == top]
    bad = [i for i, s in enumerate(scores) if s == bottom]
    c, r = _best_pair(good, bad, scores, answers)
    return Decision(c, r, top - bottom, "reference", {"metric": config.reference_metric,
                                                       "scores": [round(s, 4) for s in scores]})


def _best_pair(good: list[int], bad: list[int], scores: list[float], answers: list[str]) -> tuple[int, int]:
    """Largest score gap; among equal gaps, the answers closest in length (then the first)."""
    return max(((c, r) for c in good for r in bad),
               key=lambda p: (round(scores[p[0]] - scores[p[1]], 9),
                              -abs(length_units(answers[p[0]]) - length_units(answers[p[1]]))))


def _from_verdict(verdict: tuple[str | None, str | None]) -> Decision | str:
    first, second = verdict
    if first is None or second is None:
        return "judge_unparsed"
    if first != second:
        return "judge_flip"
    if first == "tie":
        return "tie"
    chosen = 0 if first == "A" else 1
    return Decision(chosen, 1 - chosen, 1.0, "judge", {"judge": {"first": first, "second": second}})


def _pair_stats(stats: dict[str, list[tuple[float, int, int]]]) -> dict[str, Any]:
    """Pairs per route, mean margin, and mean answer length of chosen vs rejected (length bias shows here)."""
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    every = [x for rows in stats.values() for x in rows]
    return {
        "pairs_by_how": {how: len(rows) for how, rows in stats.items()},
        "mean_margin_by_how": {how: mean([m for m, _, _ in rows]) for how, rows in stats.items()},
        "mean_length_chosen": mean([c for _, c, _ in every]),
        "mean_length_rejected": mean([r for _, _, r in every]),
    }


__all__ = ["PreferencesConfig", "JudgeSettings", "PairJudge", "preferences"]

"""The `llm-judge` filter: curation's adapter over the one judge (`seedtune.judging`).

A teacher rates each record 1-5 against a rubric (`judging/templates/rubric_{en,zh}.txt`,
chosen per record by language); records below `threshold` drop. The judge's one-line reason is
kept on every record, kept or dropped, so a reviewer can see why. Replies without a readable
score are counted (the funnel reports them) and kept or dropped by `on_parse_error`.

Before it may drop anything the judge is checked, as evaluation checks its judge: on `check`
pairs from the shipped held-out suite whose right answer is known (the reference against an
echo of the input or another task's answer). A judge below the reliability bar would throw away
good training data at random, so by default (`on_unreliable: refuse`) curation stops and says
so; `warn` runs it anyway with a loud warning recorded in funnel.json.

Requests go through the teacher in chunks of `chunk_size`; a teacher opened from the config is
behind the request cache, so each finished chunk is stored, a killed run resumes from there, and
a rerun asks nothing twice (hits and misses are counted in funnel.json).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from seedtune.cache import Budget, CachedTeacher, PriceTable, RequestCache, usage_totals
from seedtune.curate.base import Dropped, FilterResult, register_filter
from seedtune.errors import ConfigError, SeedtuneError
from seedtune.judging import RELIABLE_ACCURACY, Judge, Rating, check_judge, known_pairs, parse_rating, parse_reason
from seedtune.judging import template as judge_template
from seedtune.lexicon import join_instruction
from seedtune.prompts.formats import render_sandboxed
from seedtune.records import Record
from seedtune.teachers import Request, Teacher

log = logging.getLogger(__name__)
SCALE = 5


def parse_judgement(text: str) -> tuple[int | None, str]:
    """(score or None, reason) from a judge reply; tolerant of bold, '4/5', Chinese labels."""
    score = parse_rating(text, SCALE)
    return (int(score) if score is not None else None), parse_reason(text)


class LLMJudge:
    name, cost, heuristic = "llm-judge", 10, True

    def __init__(self, teacher: Teacher, threshold: int = 3, language: str = "auto", max_tokens: int = 256,
                 on_parse_error: str = "keep", *, check: int = 0, on_unreliable: str = "refuse",
                 check_records: Sequence[Record] = (), chunk_size: int = 64, seed: int = 0):
        self.teacher, self.threshold, self.language = teacher, threshold, language
        self.on_parse_error, self.on_unreliable, self.chunk_size = on_parse_error, on_unreliable, chunk_size
        self.judge = Judge(teacher, max_tokens=max_tokens, verdict="generate")
        self.pairs = known_pairs([_instance(r) for r in check_records], check, seed=seed) if check else []
        self.parse_failures = 0
        self.check: dict[str, Any] | None = None
        self.warning: str | None = None

    def _prompt(self, r: Record) -> str:
        lang = self.language if self.language != "auto" else ("zh" if r.lang == "zh" else "en")
        return render_sandboxed(judge_template("rubric", lang), instruction=r.instruction,
                                input=r.input or "(none)", output=r.output or "(empty)")

    def check_first(self) -> None:
        """Test the judge on known pairs once, before it drops anything; refuse or warn when it fails."""
        if self.check is not None or not self.pairs:
            return
        self.check = check_judge(self.judge, self.pairs)
        if self.check["reliable"]:
            return
        message = (f"the llm-judge preferred the known-right answer in {self.check['accuracy']:.0%} of "
                   f"{self.check['n']} check pairs (chance is 50%, trusted from {RELIABLE_ACCURACY:.0%}): "
                   "its scores would drop training data at random")
        if self.on_unreliable == "refuse":
            raise SeedtuneError(message, hint="use a stronger judge (--judge openai:MODEL), or set "
                                              "judge.on_unreliable=warn to run it anyway")
        self.warning = message
        log.warning("WARNING: %s; running it anyway (judge.on_unreliable=warn)", message)

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        if not records:
            return result
        self.check_first()
        ratings: list[Rating] = []
        for start in range(0, len(records), self.chunk_size):
            chunk = records[start : start + self.chunk_size]
            ratings += self.judge.rate([self._prompt(r) for r in chunk], SCALE)
        judge_id = getattr(self.teacher, "model_id", "judge")
        for r, rating in zip(records, ratings):
            self._decide(r, rating, judge_id, result)
        return result

    def _decide(self, r: Record, rating: Rating, judge_id: str, result: FilterResult) -> None:
        score = int(rating.score) if rating.score is not None else None
        reason = rating.reason
        meta = {**r.meta, "judge": {"model": judge_id, "score": score, "reason": reason}}
        if score is None:
            self.parse_failures += 1
            if self.on_parse_error == "drop":
                result.dropped.append(Dropped(r.model_copy(update={"meta": meta}), self.name,
                                              f"judge reply had no readable score: {reason[:80]!r}", None))
            else:
                result.kept.append(r.model_copy(update={"meta": meta}))
            return
        updated = r.model_copy(update={"meta": meta, "scores": {**r.scores, "judge": float(score)}})
        if score >= self.threshold:
            result.kept.append(updated.model_copy(update={"kept_reason": f"judge {score}/5: {reason}"}))
        else:
            result.dropped.append(Dropped(updated, self.name, f"judge {score}/5 < {self.threshold}: {reason}", float(score)))

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"parse_failures": self.parse_failures, "check": self.check}
        if self.warning:
            out["warning"] = self.warning
        if isinstance(self.teacher, CachedTeacher):
            out["usage"] = usage_totals([self.teacher])
            out["budget"] = self.teacher.budget.summary() if self.teacher.budget is not None else None
        if hasattr(self.teacher, "stats"):
            out["requests"] = self.teacher.stats()
        return out


def _instance(r: Record) -> dict[str, Any]:
    return {"question": join_instruction(r.instruction, r.input), "input": r.input, "reference": r.output,
            "lang": r.lang or "en", "task": r.task or r.instruction}


def _check_records() -> list[Record]:
    from seedtune.formats import read_suite_records

    return read_suite_records("heldout")[0]


@register_filter("llm-judge", "a teacher scores quality 1-5 (rubric in English/Chinese), keeps its reason; checked first")
def _judge(config: Any, deps: dict[str, Any]) -> LLMJudge:
    c = config.judge
    prices = PriceTable.from_setting(c.prices, c.max_cost, key="curate.judge.prices")
    budget = Budget(c.max_cost, prices) if prices is not None and c.max_cost is not None else None
    teacher = deps.get("teacher")
    if teacher is None:
        if not c.teacher:
            raise ConfigError("the llm-judge filter needs a teacher", key="curate.judge.teacher",
                              hint="pass --judge hf:smollm2-135m-instruct (or openai:MODEL), or drop 'llm-judge'")
        from seedtune.teachers import open_teacher

        teacher = CachedTeacher(open_teacher(c.teacher, base_url=c.base_url, batch_size=c.batch_size, dtype=c.dtype),
                                RequestCache(c.cache), prices=prices, budget=budget)
    elif prices is not None:  # a teacher passed in is counted, and held to the budget before each request
        teacher = CachedTeacher(teacher, None, prices=prices, budget=budget)
    return LLMJudge(teacher, c.threshold, c.language, c.max_tokens, c.on_parse_error, check=c.check,
                    on_unreliable=c.on_unreliable, check_records=_check_records() if c.check else (),
                    chunk_size=c.chunk_size)

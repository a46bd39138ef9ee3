"""LLM-judge quality filter: a teacher scores each record 1-5 against a rubric; low scores drop.

The rubric lives in `templates/judge_{en,zh}.txt` (a `string.Template`: $instruction, $input,
$output), chosen per record by language. The judge's one-line reason is kept on every record,
kept or dropped, so a reviewer can see why. Replies without a readable score are counted (the
funnel reports them) and kept or dropped by `on_parse_error`, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any

from seedtune.curate.base import Dropped, FilterResult, register_filter
from seedtune.records import Record
from seedtune.cache import Budget, CachedTeacher, PriceTable, usage_totals
from seedtune.teachers import Request, Teacher

_SCORE = re.compile(r"(?:score|rating|评分|分数|得分)\s*[:：=]?\s*\**\s*([1-5])(?:\s*(?:/|分|out of)\s*5?)?", re.IGNORECASE)
_REASON = re.compile(r"(?:reason|explanation|理由|原因)\s*[:：]\s*(.+)", re.IGNORECASE)
_LONE_DIGIT = re.compile(r"^\s*\**([1-5])\**\s*(?:/\s*5)?\s*$", re.MULTILINE)


def load_template(lang: str) -> Template:
    name = "judge_zh.txt" if lang == "zh" else "judge_en.txt"
    return Template(resources.files("seedtune.curate").joinpath("templates", name).read_text(encoding="utf-8"))


def parse_judgement(text: str) -> tuple[int | None, str]:
    """(score or None, reason) from a judge reply; tolerant of bold, '4/5', Chinese labels."""
    match = _SCORE.search(text) or _LONE_DIGIT.search(text)
    reason_match = _REASON.search(text)
    reason = reason_match.group(1).strip() if reason_match else " ".join(text.split())[:200]
    return (int(match.group(1)) if match else None), reason


class LLMJudge:
    name, cost, heuristic = "llm-judge", 10, True

    def __init__(self, teacher: Teacher, threshold: int = 3, language: str = "auto", max_tokens: int = 256,
                 on_parse_error: str = "keep"):
        self.teacher, self.threshold, self.language = teacher, threshold, language
        self.max_tokens, self.on_parse_error = max_tokens, on_parse_error
        self.parse_failures = 0
        self.templates = {lang: load_template(lang) for lang in ("en", "zh")}

    def _request(self, r: Record) -> Request:
        lang = self.language if self.language != "auto" else ("zh" if r.lang == "zh" else "en")
        prompt = self.templates[lang].safe_substitute(instruction=r.instruction, input=r.input or "(none)",
                                                      output=r.output or "(empty)")
        return Request.user(prompt, max_tokens=self.max_tokens, temperature=0.0)

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        if not records:
            return result
        completions = self.teacher.generate([self._request(r) for r in records])
        judge_id = getattr(self.teacher, "model_id", "judge")
        for r, completion in zip(records, completions):
            score, reason = parse_judgement(completion.text)
            meta = {**r.meta, "judge": {"model": judge_id, "score": score, "reason": reason}}
            if score is None:
                self.parse_failures += 1
                if self.on_parse_error == "drop":
                    result.dropped.append(Dropped(r.model_copy(update={"meta": meta}), self.name,
                                                  f"judge reply had no readable score: {reason[:80]!r}", None))
                else:
                    result.kept.append(r.model_copy(update={"meta": meta}))
                continue
            scores = {**r.scores, "judge": float(score)}
            updated = r.model_copy(update={"meta": meta, "scores": scores})
            if score >= self.threshold:
                result.kept.append(updated.model_copy(update={"kept_reason": f"judge {score}/5: {reason}"}))
            else:
                result.dropped.append(Dropped(updated, self.name, f"judge {score}/5 < {self.threshold}: {reason}", float(score)))
        return result

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"parse_failures": self.parse_failures}
        if isinstance(self.teacher, CachedTeacher):
            out["usage"] = usage_totals([self.teacher])
            out["budget"] = self.teacher.budget.summary() if self.teacher.budget is not None else None
        return out


@register_filter("llm-judge", "a teacher scores quality 1-5 (rubric in English/Chinese), keeps its reason")
def _judge(config: Any, deps: dict[str, Any]) -> LLMJudge:
    c = config.judge
    teacher = deps.get("teacher")
    if teacher is None:
        if not c.teacher:
            from seedtune.errors import ConfigError

            raise ConfigError("the llm-judge filter needs a teacher", key="curate.judge.teacher",
                              hint="pass --judge hf:smollm2-135m-instruct (or openai:MODEL), or drop 'llm-judge'")
        from seedtune.teachers import from_string

        teacher = from_string(c.teacher, base_url=c.base_url)
    prices = PriceTable.from_setting(c.prices, c.max_cost, key="curate.judge.prices")
    if prices is not None:  # counted, and held to the budget before each request is sent
        budget = Budget(c.max_cost, prices) if c.max_cost is not None else None
        teacher = CachedTeacher(teacher, None, prices=prices, budget=budget)
    return LLMJudge(teacher, c.threshold, c.language, c.max_tokens, c.on_parse_error)

"""The LLM judge behind the preference stage's `PairJudge` interface.

`generate/` may not import `evaluate/` (a stage never imports another), so the judge the eval
stage uses is adapted here, one floor up, and handed to `generate.preferences` as an object:
pairwise verdicts in both orders, and the check on known pairs built from the prompts' own
answers. When the judge moves to a services-floor package, this adapter moves with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seedtune.generate.preferences import JudgeSettings
from seedtune.records import Record
from seedtune.teachers import Teacher


class LLMPairJudge:
    """`PairJudge` over `seedtune.evaluate.judge.Judge` (verdicts through the request cache)."""

    def __init__(self, judge: Any, judge_id: str, n_check: int, seed: int = 0):
        self.judge = judge
        self.judge_id = judge_id
        self.n_check = n_check
        self.seed = seed

    def check(self, records: Sequence[Record]) -> dict[str, Any]:
        """The eval stage's judge check, on known pairs from records that have an answer: the
        record's answer against its input echoed back or another task's answer."""
        from seedtune.evaluate.judge import check_judge, known_pairs
        from seedtune.evaluate.prompting import user_text

        instances = [{"question": user_text(r.instruction, r.input), "input": r.input, "reference": r.output,
                      "lang": r.lang or "en", "task": r.task or r.id} for r in records if r.output.strip()]
        pairs = known_pairs(instances, self.n_check, seed=self.seed)
        if not pairs:
            return {"n": 0, "reliable": False, "note": "no prompt has an answer to build known pairs from"}
        return check_judge(self.judge, pairs)

    def compare(self, items: Sequence[tuple[str, str, str, str]]) -> list[tuple[str | None, str | None]]:
        from seedtune.evaluate.judge import PairItem

        verdicts = self.judge.compare([PairItem(q, a, b, "", lang) for q, a, b, lang in items], use_reference=False)
        return [(v.first, v.second) for v in verdicts]


def open_pair_judge(settings: JudgeSettings, teacher: Teacher | None = None, cache: Any = None,
                    seed: int = 0) -> LLMPairJudge:
    """The judge `settings` describe (or `teacher`, for tests), behind the request cache."""
    from seedtune.cache import CachedTeacher, RequestCache
    from seedtune.evaluate.judge import Judge, resolve_verdict

    if teacher is None:
        from seedtune.teachers.registry import from_string

        kw: dict[str, Any] = {} if settings.teacher.startswith("openai:") else {"dtype": settings.dtype}
        teacher = from_string(settings.teacher, base_url=settings.base_url, **kw)
    cached = CachedTeacher(teacher, cache if cache is not None else RequestCache())
    verdict = resolve_verdict(settings.verdict, settings.teacher)
    return LLMPairJudge(Judge(cached, max_tokens=settings.max_tokens, verdict=verdict), settings.teacher,
                        settings.check, seed=seed)

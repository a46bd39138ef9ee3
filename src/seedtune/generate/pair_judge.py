"""The LLM judge (`seedtune.judging`, the one judge curation and evaluation use) behind the
preference builder's `PairJudge` interface: pairwise verdicts in both orders, and the check on
known pairs built from the prompts' own answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seedtune.generate.preferences import JudgeSettings
from seedtune.records import Record
from seedtune.teachers import Teacher


class LLMPairJudge:
    """`PairJudge` over `seedtune.judging.Judge` (verdicts through the request cache)."""

    def __init__(self, judge: Any, judge_id: str, n_check: int, seed: int = 0):
        self.judge = judge
        self.judge_id = judge_id
        self.n_check = n_check
        self.seed = seed

    def check(self, records: Sequence[Record]) -> dict[str, Any]:
        """The eval stage's judge check, on known pairs from records that have an answer: the
        record's answer against its input echoed back or another task's answer."""
        from seedtune.judging import check_judge, known_pairs
        from seedtune.lexicon import join_instruction

        instances = [{"question": join_instruction(r.instruction, r.input), "input": r.input, "reference": r.output,
                      "lang": r.lang or "en", "task": r.task or r.id} for r in records if r.output.strip()]
        pairs = known_pairs(instances, self.n_check, seed=self.seed)
        if not pairs:
            return {"n": 0, "reliable": False, "note": "no prompt has an answer to build known pairs from"}
        return check_judge(self.judge, pairs)

    def compare(self, items: Sequence[tuple[str, str, str, str]]) -> list[tuple[str | None, str | None]]:
        from seedtune.judging import PairItem

        verdicts = self.judge.compare([PairItem(q, a, b, "", lang) for q, a, b, lang in items], use_reference=False)
        return [(v.first, v.second) for v in verdicts]


def open_pair_judge(settings: JudgeSettings, teacher: Teacher | None = None, cache: Any = None,
                    seed: int = 0) -> LLMPairJudge:
    """The judge `settings` describe (or `teacher`, for tests), behind the request cache."""
    from seedtune.cache import CachedTeacher, RequestCache
    from seedtune.judging import Judge, resolve_verdict

    if teacher is None:
        from seedtune.teachers import open_teacher

        # Every option goes to the teacher's kind, which keeps what it supports.
        teacher = open_teacher(settings.teacher, base_url=settings.base_url, dtype=settings.dtype)
    cached = CachedTeacher(teacher, cache if cache is not None else RequestCache())
    verdict = resolve_verdict(settings.verdict, settings.teacher)
    return LLMPairJudge(Judge(cached, max_tokens=settings.max_tokens, verdict=verdict), settings.teacher,
                        settings.check, seed=seed)

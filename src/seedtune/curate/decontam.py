"""Decontamination: drop training records that overlap the evaluation suite.

The rule (a shared 13-gram over instruction + input + output, or ROUGE-L >= 0.7 between a short
instruction and a suite instruction) lives in `seedtune.overlap`, shared with evaluation's
contamination check so that a record dropped here is exactly a record evaluation would flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.curate.base import Dropped, FilterResult, preview, register_filter
from seedtune.overlap import OverlapRule, SuiteIndex, SuiteItem, joined
from seedtune.records import Record


def load_suite(path: str | Path | None) -> tuple[list[Record], str]:
    """Suite records and their name (`formats.read_suite_records`, the one suite reader)."""
    from seedtune.formats import read_suite_records

    return read_suite_records(path)


class Decontaminate:
    """Drops a record that overlaps a suite record under `seedtune.overlap`'s rule."""

    name, cost = "decontamination", 4

    def __init__(self, suite: Sequence[Record], ngram: int = 13, short_tokens: int = 20,
                 rouge_threshold: float = 0.7, suite_name: str = "suite"):
        self.rule = OverlapRule(ngram=ngram, rouge_threshold=rouge_threshold, short_tokens=short_tokens)
        self.suite_name = suite_name
        self.suite = list(suite)
        self.index = SuiteIndex((SuiteItem(str(i), r.instruction, record_text(r)) for i, r in enumerate(self.suite)),
                                self.rule)

    def check(self, record: Record) -> tuple[str, float | None] | None:
        hit = self.index.check(record.instruction, record_text(record))
        if hit is None:
            return None
        owner = self.suite[int(hit.key)]
        where = f"{self.suite_name} task {owner.task or owner.id} ({preview(owner.instruction, 40)!r})"
        if hit.kind == "rouge-l":
            return f"instruction has ROUGE-L {hit.score:.3f} >= {self.rule.rouge_threshold} with {where}", hit.score
        return f"shares the {hit.kind} {preview(hit.evidence, 80)!r} with {where}", hit.score

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        for r in records:
            verdict = self.check(r)
            if verdict is None:
                result.kept.append(r)
            else:
                result.dropped.append(Dropped(r, self.name, verdict[0], verdict[1]))
        return result


def record_text(record: Record) -> str:
    """A record's side of the overlap rule: instruction, input and output joined."""
    return joined(record.instruction, record.input, record.output)


@register_filter("decontamination", "overlaps the evaluation suite (13-gram, or ROUGE-L for short instructions)")
def _decontam(config: Any, deps: dict[str, Any]) -> Decontaminate:
    c = config.decontamination
    suite = deps.get("suite")
    name = "suite"
    if suite is None:
        suite, name = load_suite(c.against)
    return Decontaminate(suite, c.ngram, c.short_tokens, c.rouge_threshold, suite_name=name)

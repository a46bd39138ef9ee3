"""Decontamination: drop training records that overlap the evaluation suite.

Two tests, either one drops:
- n-gram overlap (13-gram by default, the length GPT-3's contamination analysis used; Brown et
  al. 2020, appendix C): any n-gram of the record's instruction + input that appears in a suite
  instruction, input or reference output;
- ROUGE-L for short instructions, which have no 13-gram at all: F against a suite instruction
  above the threshold (the same exact, pruned ROUGE-L as near-dup-rouge).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.curate.base import Dropped, FilterResult, preview, register_filter
from seedtune.errors import InputError
from seedtune.records import Record
from seedtune.textsim import NoveltyIndex, tokenize


def load_suite(path: str | Path | None) -> tuple[list[Record], str]:
    """Suite records from `path` (any record format), or the shipped held-out suite (`None` or
    'heldout', the name `seedtune eval --suite` uses for it)."""
    from seedtune.formats import read_records

    if path is None or str(path) == "heldout":
        from seedtune.data import heldout_suite_path

        suite = heldout_suite_path()
        if not suite.exists():
            raise InputError("the shipped held-out suite is missing from this installation", path=suite.name,
                             hint="pass a suite file with --against SUITE (decontamination.against=...), "
                                  "or drop 'decontamination' from the filters")
        return read_records(suite), "shipped held-out suite"
    return read_records(path), str(path)


class Decontaminate:
    name, cost = "decontamination", 4

    def __init__(self, suite: Sequence[Record], ngram: int = 13, short_tokens: int = 20,
                 rouge_threshold: float = 0.7, suite_name: str = "suite"):
        self.n, self.short_tokens, self.rouge_threshold = ngram, short_tokens, rouge_threshold
        self.suite_name = suite_name
        # n-gram -> the suite record it came from (first one wins), for the reason
        self.grams: dict[tuple[str, ...], Record] = {}
        self.instructions = NoveltyIndex(rouge_threshold)
        self.owners: list[Record] = []
        seen_instructions: set[str] = set()
        for rec in suite:
            for text in (rec.instruction, rec.input, rec.output):
                toks = tokenize(text)
                for i in range(len(toks) - ngram + 1):
                    self.grams.setdefault(tuple(toks[i : i + ngram]), rec)
            if rec.instruction not in seen_instructions:  # instances share their task's instruction
                seen_instructions.add(rec.instruction)
                self.instructions.add(rec.instruction)
                self.owners.append(rec)

    def check(self, record: Record) -> tuple[str, float | None] | None:
        toks = tokenize(record.instruction) + tokenize(record.input)
        for i in range(len(toks) - self.n + 1):
            hit = self.grams.get(tuple(toks[i : i + self.n]))
            if hit is not None:
                gram = " ".join(toks[i : i + self.n])
                return (f"shares the {self.n}-gram {preview(gram, 80)!r} with {self.suite_name} task "
                        f"{hit.task or hit.id} ({preview(hit.instruction, 40)!r})"), 1.0
        if len(tokenize(record.instruction)) <= self.short_tokens:
            kept, score, nearest = self.instructions.check(record.instruction)
            if not kept and nearest is not None:
                hit = self.owners[nearest]
                return (f"instruction has ROUGE-L {score:.3f} > {self.rouge_threshold} with {self.suite_name} task "
                        f"{hit.task or hit.id} ({preview(hit.instruction, 40)!r})"), round(score, 4)
        return None

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        for r in records:
            verdict = self.check(r)
            if verdict is None:
                result.kept.append(r)
            else:
                result.dropped.append(Dropped(r, self.name, verdict[0], verdict[1]))
        return result


@register_filter("decontamination", "overlaps the evaluation suite (13-gram, or ROUGE-L for short instructions)")
def _decontam(config: Any, deps: dict[str, Any]) -> Decontaminate:
    c = config.decontamination
    suite = deps.get("suite")
    name = "suite"
    if suite is None:
        suite, name = load_suite(c.against)
    return Decontaminate(suite, c.ngram, c.short_tokens, c.rouge_threshold, suite_name=name)

"""The one contamination rule: does a training record overlap an evaluation-suite item?

Used by curation (`decontamination` drops the record) and by evaluation (the task is flagged
contaminated), so the two always agree on the same pair. A training record and a suite item
overlap when either holds:

1. **n-gram**: they share an n-gram (13 by default, the length GPT-3's contamination analysis
   used; Brown et al. 2020, appendix C) of `seedtune.textsim` tokens, taken over each side's
   instruction + input + output(s) joined in that order. Joining catches a short task copied
   whole (no single field has 13 tokens, the instance does); CJK characters are one token each,
   so Chinese tasks are checked too.
2. **instruction ROUGE-L**: the training instruction has at most `short_tokens` tokens (longer
   ones are covered by the n-gram test) and its ROUGE-L F with a suite instruction is
   `>= rouge_threshold` (0.7, the Self-Instruct novelty threshold; ties count as overlap). The
   search uses `NoveltyIndex`, exact with pruning, so large training sets stay fast.

The suite side is small and indexed once (`SuiteIndex`); training records stream past it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seedtune.textsim import NoveltyIndex, ngrams, tokenize

# NoveltyIndex keeps F <= threshold; lowering it by this much makes F == threshold an overlap.
_TIE = 1e-9


@dataclass(frozen=True)
class OverlapRule:
    ngram: int = 13
    rouge_threshold: float = 0.7
    short_tokens: int = 20


@dataclass(frozen=True)
class Overlap:
    """Evidence that a training record overlaps suite item `key`."""

    key: str
    kind: str  # "13-gram" (with the rule's n) or "rouge-l"
    score: float  # 1.0 for an n-gram, the ROUGE-L F otherwise
    evidence: str  # the shared n-gram, or the suite instruction that matched


def joined(instruction: str, input: str = "", outputs: Sequence[str] | str = ()) -> str:
    """The text a side's n-grams are taken from: instruction, input, then every output."""
    outs = [outputs] if isinstance(outputs, str) else list(outputs)
    return "\n".join(part for part in (instruction, input, *outs) if part)


@dataclass(frozen=True)
class SuiteItem:
    key: str  # what a hit names: a task id, or a record's index
    instruction: str
    text: str  # `joined(...)` of the item


class SuiteIndex:
    """The suite side of the rule, built once; `check` one training record at a time."""

    def __init__(self, items: Iterable[SuiteItem], rule: OverlapRule = OverlapRule()):
        self.rule = rule
        self.grams: dict[tuple[str, ...], list[str]] = {}
        self.instructions = NoveltyIndex(max(0.0, rule.rouge_threshold - _TIE))
        self.owners: list[str] = []  # NoveltyIndex position -> item key
        seen: set[str] = set()
        for item in items:
            for gram in ngrams(tokenize(item.text), rule.ngram):
                keys = self.grams.setdefault(gram, [])
                if item.key not in keys:
                    keys.append(item.key)
            if item.instruction not in seen:  # instances of a task share its instruction
                seen.add(item.instruction)
                self.instructions.add(item.instruction)
                self.owners.append(item.key)

    def matches(self, instruction: str, text: str) -> list[Overlap]:
        """Every suite item the record overlaps, one piece of evidence each (n-gram first)."""
        found: dict[str, Overlap] = {}
        toks = tokenize(text)
        for i in range(len(toks) - self.rule.ngram + 1):
            gram = tuple(toks[i : i + self.rule.ngram])
            for key in self.grams.get(gram, ()):
                found.setdefault(key, Overlap(key, f"{self.rule.ngram}-gram", 1.0, " ".join(gram)))
        if len(tokenize(instruction)) <= self.rule.short_tokens:
            kept, score, nearest = self.instructions.check(instruction)
            if not kept and nearest is not None:
                key = self.owners[nearest]
                found.setdefault(key, Overlap(key, "rouge-l", round(score, 4), self.instructions.texts[nearest]))
        return list(found.values())

    def check(self, instruction: str, text: str) -> Overlap | None:
        """The first overlap of a training record, or None if it is clean."""
        hits = self.matches(instruction, text)
        return hits[0] if hits else None

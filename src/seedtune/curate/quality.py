"""Per-record quality filters: empty/echoed/truncated outputs, length, keywords, refusals,
language consistency, and classification tasks whose labels are all the same.

Each is cheap (a regex or a count per record) and runs before the deduplication filters.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from seedtune.curate.base import Dropped, FilterResult, RecordFilter, preview, register_filter
from seedtune.lexicon import join_instruction, keyword_pattern, normalise, refusal_patterns
from seedtune.records import Record
from seedtune.textsim import detect_lang, length_units



_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_CODE_LINE = re.compile(r"^\s*(?:def |class |import |from \S+ import|return\b|for |while |if |elif |else:|print\(|"
                        r"SELECT |INSERT |UPDATE |DELETE |#include|function |const |let |var |public |[#/]{1,2} |"
                        r"[\w.\[\]]+\s*[-+*/]?=\s*\S|[})\]];?\s*$)", re.IGNORECASE)


def strip_code(text: str) -> str:
    """The prose of an answer: fenced blocks and lines that look like code removed."""
    text = _FENCED.sub(" ", text)
    return "\n".join(line for line in text.splitlines() if not _CODE_LINE.match(line))


def prompt_text(record: Record) -> str:
    return join_instruction(record.instruction, record.input)


class EmptyOutput(RecordFilter):
    name, cost = "empty-output", 1

    def check(self, record: Record) -> tuple[str, float | None] | None:
        if not record.output.strip() and not record.messages:
            return "output is empty", None
        return None


class OutputEqualsInput(RecordFilter):
    name, cost, heuristic = "output-equals-input", 1, True

    def check(self, record: Record) -> tuple[str, float | None] | None:
        # Whitespace only: a copied input is copied verbatim, while a task like "add the missing
        # punctuation" legitimately answers with the input's words, re-punctuated.
        out = " ".join(record.output.split())
        if not out:
            return None
        if out == " ".join(record.input.split()):
            return "output repeats the input", None
        if out == " ".join(record.instruction.split()):
            return "output repeats the instruction", None
        return None


class Truncated(RecordFilter):
    """Outputs cut off by a token limit: the teacher said so, a code fence is left open, or the
    text ends on a comma or a word that cannot end a sentence."""

    name, cost, heuristic = "truncated", 1, True
    _HANGING_PUNCT = (",", ";", ":", "，", "、", "；", "：", "(", "（", "-")

    def __init__(self, dangling: Sequence[str]):
        self.dangling = {w.lower() for w in dangling}

    def check(self, record: Record) -> tuple[str, float | None] | None:
        finish = record.meta.get("finish_reason")
        if finish == "length":
            return "the teacher stopped at its token limit (finish_reason=length)", None
        out = record.output.rstrip()
        if not out:
            return None
        if out.count("```") % 2 == 1:
            return "a code block is opened but never closed", None
        if out.endswith(self._HANGING_PUNCT):
            return f"ends mid-sentence on {out[-1]!r}", None
        last = re.findall(r"[A-Za-z]+$", out)
        if last and last[0].lower() in self.dangling and len(out.split()) > 3:
            return f"ends mid-sentence on the word {last[0]!r}", None
        return None


class Length(RecordFilter):
    name, cost, heuristic = "length", 2, True

    def __init__(self, min_instruction: int, max_instruction: int, min_output: int, max_output: int,
                 counter: Callable[[str], int] = length_units, unit: str = "units"):
        self.bounds = (min_instruction, max_instruction, min_output, max_output)
        self.count = counter
        self.unit = unit

    def check(self, record: Record) -> tuple[str, float | None] | None:
        lo_i, hi_i, lo_o, hi_o = self.bounds
        n = self.count(prompt_text(record))
        if n < lo_i:
            return f"instruction+input has {n} {self.unit} (< {lo_i})", float(n)
        if n > hi_i:
            return f"instruction+input has {n} {self.unit} (> {hi_i})", float(n)
        if record.output:
            m = self.count(record.output)
            if m < lo_o:
                return f"output has {m} {self.unit} (< {lo_o})", float(m)
            if m > hi_o:
                return f"output has {m} {self.unit} (> {hi_o})", float(m)
        return None


class Keywords(RecordFilter):
    name, cost, heuristic = "keywords", 2, True

    def __init__(self, words: Sequence[str], fields: Sequence[str]):
        self.pattern = keyword_pattern(words)
        self.fields = list(fields)

    def check(self, record: Record) -> tuple[str, float | None] | None:
        for field in self.fields:
            hit = self.pattern.search(getattr(record, field))
            if hit:
                return f"{field} mentions {hit.group(0)!r}, which a text-only model cannot satisfy", None
        return None


class Refusal(RecordFilter):
    name, cost, heuristic = "refusal", 2, True

    def __init__(self, extra: Sequence[str] = (), head_chars: int = 200):
        self.anywhere, self.head = refusal_patterns(extra)  # the lists live in seedtune.lexicon
        self.head_chars = head_chars

    def check(self, record: Record) -> tuple[str, float | None] | None:
        out = record.output.replace("\u2019", "'")
        head = out[: self.head_chars]
        hit = self.anywhere.search(head) or self.head.search(head)
        if hit:
            return f"output refuses or talks about itself: {hit.group(0)!r}", None
        return None


_TRANSLATE = re.compile(r"translat|翻译|译成|译为|英译|中译|汉译", re.IGNORECASE)
_NAMES_LANG = re.compile(
    r"\b(?:in|into|to) (?:english|chinese|mandarin|french|german|spanish|japanese|korean)\b|"
    r"用(?:英文|英语|中文|汉语|日语|法语)|(?:英文|英语|中文)(?:回答|写|回复)", re.IGNORECASE)


class Language(RecordFilter):
    """The answer should be in the language of the question, unless the task is about languages."""

    name, cost, heuristic = "language", 3, True

    def __init__(self, min_units: int = 4, exempt_categories: Sequence[str] = ("translation",)):
        self.min_units = min_units
        self.exempt = {c.lower() for c in exempt_categories}

    def check(self, record: Record) -> tuple[str, float | None] | None:
        if (record.category or "").lower() in self.exempt:
            return None
        prompt = prompt_text(record)
        if _TRANSLATE.search(prompt) or _NAMES_LANG.search(record.instruction):
            return None
        prose = strip_code(record.output)  # code is written in English whatever language asked for it
        if length_units(prose) < self.min_units:
            return None
        asked, answered = detect_lang(record.instruction), detect_lang(prose)
        if asked != answered:
            return f"instruction is {asked} but the output is {answered}", None
        return None


class AllSameLabel:
    """Classification tasks whose instances all carry one label teach nothing but that label."""

    name, cost, heuristic = "all-same-label", 2, True

    def __init__(self, min_instances: int = 3):
        self.min_instances = min_instances

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(records):
            if r.is_classification:
                groups[r.task or normalise(r.instruction)].append(i)
        bad: dict[int, str] = {}
        for task, members in groups.items():
            labels = {normalise(records[i].output) for i in members}
            if len(members) >= self.min_instances and len(labels) == 1:
                label = records[members[0]].output.strip()
                for i in members:
                    bad[i] = f"all {len(members)} instances of classification task {preview(task, 40)!r} have the label {preview(label, 30)!r}"
        result = FilterResult(kept=[])
        for i, r in enumerate(records):
            if i in bad:
                result.dropped.append(Dropped(r, self.name, bad[i], float(len(groups[r.task or normalise(r.instruction)]))))
            else:
                result.kept.append(r)
        return result


# -- registry -----------------------------------------------------------------------------------

@register_filter("empty-output", "output is empty")
def _empty(config: Any, deps: dict[str, Any]) -> EmptyOutput:
    return EmptyOutput()


@register_filter("output-equals-input", "output repeats the input or the instruction")
def _echo(config: Any, deps: dict[str, Any]) -> OutputEqualsInput:
    return OutputEqualsInput()


@register_filter("truncated", "output cut off (token limit, open code block, dangling word)")
def _truncated(config: Any, deps: dict[str, Any]) -> Truncated:
    return Truncated(config.truncated.dangling_words)


@register_filter("length", "instruction/output too short or too long (words, CJK characters or tokens)")
def _length(config: Any, deps: dict[str, Any]) -> Length:
    c = config.length
    counter, unit = length_units, "words/characters"
    if c.unit == "tokens":
        tokenizer = deps.get("tokenizer")
        if tokenizer is None:
            from seedtune.errors import ConfigError

            if not c.tokenizer:
                raise ConfigError("unit 'tokens' needs a tokenizer", key="curate.length.tokenizer",
                                  hint="set length.tokenizer=MODEL (a name or path), or length.unit=auto")
            from seedtune.models.loading import load_tokenizer

            tokenizer = load_tokenizer(c.tokenizer)
        counter, unit = (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), "tokens"
    return Length(c.min_instruction, c.max_instruction, c.min_output, c.max_output, counter, unit)


@register_filter("keywords", "instruction needs images, files, drawing... (configurable words)")
def _keywords(config: Any, deps: dict[str, Any]) -> Keywords:
    return Keywords(list(config.keywords.words) + list(config.keywords.extra), config.keywords.fields)


@register_filter("refusal", "refusals and 'as an AI language model' (English and Chinese)")
def _refusal(config: Any, deps: dict[str, Any]) -> Refusal:
    return Refusal(config.refusal.extra, config.refusal.head_chars)


@register_filter("language", "output language differs from the instruction's (translation exempt)")
def _language(config: Any, deps: dict[str, Any]) -> Language:
    return Language(config.language.min_units, config.language.exempt_categories)


@register_filter("all-same-label", "classification task whose instances all have one label")
def _labels(config: Any, deps: dict[str, Any]) -> AllSameLabel:
    return AllSameLabel(config.labels.min_instances)

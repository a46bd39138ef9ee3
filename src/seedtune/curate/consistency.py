"""Judge-free quality signals: self-consistency with the teacher, and instruction-following difficulty.

`consistency` asks the teacher the record's question k times (sampled, every answer cached) and
keeps the record only when its answer agrees with the majority of the samples. A short answer
agrees with a sample when they are equal after normalisation (or the sample states the answer as
a whole phrase in its first sentence: "2 + 2 = 4." agrees with "4"); a long one when their
ROUGE-L F reaches `rouge_threshold`. A wrong label or a number that came from nowhere ("the sale
price is 37.8") is what a teacher rarely reproduces, while right answers recur: self-consistency
(Wang et al. 2023) used as a filter rather than a decoder.

`ifd` is the Instruction-Following Difficulty of Li et al. 2024 ("From Quantity to Quality"):
the model's loss on the answer with the instruction divided by its loss on the answer alone. A
ratio at or above 1 means the instruction does not help predict the answer at all: the answer
does not follow from the question. Both need no judge model, and both write their score.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from seedtune.curate.base import Dropped, FilterResult, preview, register_filter
from seedtune.curate.quality import normalise
from seedtune.records import Record
from seedtune.teachers.base import Request
from seedtune.textsim import length_units, rouge_l

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?。！？\n])(\s|$)", re.DOTALL)


def question(record: Record) -> list[dict[str, str]]:
    """The messages the record's answer replies to (the conversation before its last answer)."""
    messages = record.conversation()
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


def answer(record: Record) -> str:
    if record.messages:
        last = record.messages[-1]
        return last.content if last.role == "assistant" else ""
    return record.output


def agrees(reference: str, sample: str, short_max_units: int, rouge_threshold: float) -> bool:
    """Does one sampled answer agree with the record's answer? (See the module docstring.)"""
    if length_units(reference) <= short_max_units:
        ref, got = normalise(reference), normalise(sample)
        if not ref:
            return False
        if ref == got:
            return True
        match = _FIRST_SENTENCE.match(sample.strip())
        head = normalise(match.group(1) if match else sample)
        return f" {ref} " in f" {head} "
    return rouge_l(sample, reference) >= rouge_threshold


class Consistency:
    """Keep a record when at least `min_agreement` of k teacher samples agree with its answer."""

    name, cost, heuristic = "consistency", 9, True

    def __init__(self, teacher: Any, k: int = 5, temperature: float = 0.7, top_p: float = 1.0, seed: int = 0,
                 short_max_units: int = 8, rouge_threshold: float = 0.15, min_agreement: float = 0.5,
                 short_max_tokens: int = 48, max_tokens: int = 256):
        self.teacher, self.k, self.temperature, self.top_p, self.seed = teacher, k, temperature, top_p, seed
        self.short_max_units, self.rouge_threshold, self.min_agreement = short_max_units, rouge_threshold, min_agreement
        self.short_max_tokens, self.max_tokens = short_max_tokens, max_tokens

    def request(self, record: Record) -> Request:
        short = length_units(answer(record)) <= self.short_max_units
        # The seed follows the record's content, so a rerun (or the same record in another pool)
        # asks the same question and is answered from the cache.
        seed = int(record.content_hash(), 16) ^ self.seed
        return Request.chat(question(record), n=self.k, temperature=self.temperature, top_p=self.top_p, seed=seed,
                            max_tokens=self.short_max_tokens if short else self.max_tokens)

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        if not records:
            return result
        completions = self.teacher.generate([self.request(r) for r in records])
        for record, completion in zip(records, completions):
            reference = answer(record)
            votes = [agrees(reference, s, self.short_max_units, self.rouge_threshold) for s in completion.texts]
            score = round(sum(votes) / len(votes), 4) if votes else 0.0
            updated = record.model_copy(update={"scores": {**record.scores, "consistency": score}})
            if score >= self.min_agreement:
                result.kept.append(updated)
                continue
            kind = "exact match" if length_units(reference) <= self.short_max_units else f"ROUGE-L >= {self.rouge_threshold}"
            result.dropped.append(Dropped(updated, self.name,
                                          f"agreement {score:.2f} < {self.min_agreement}: {sum(votes)} of {len(votes)} "
                                          f"teacher samples agree ({kind}) with {preview(reference, 40)!r}; "
                                          f"e.g. the teacher said {preview(completion.text, 40)!r}", score))
        return result


class InstructionFollowingDifficulty:
    """Drop records whose answer is no easier to predict with the instruction than without it."""

    name, cost, heuristic = "ifd", 7, True

    def __init__(self, loss: Callable[[str, str], float], render: Callable[[Record], tuple[str, str]],
                 threshold: float = 1.0):
        self.loss, self.render, self.threshold = loss, render, threshold

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        for record in records:
            prompt, target = self.render(record)
            conditioned, alone = self.loss(prompt, target), self.loss("", target)
            score = round(conditioned / alone, 4) if alone > 0 else 1.0
            updated = record.model_copy(update={"scores": {**record.scores, "ifd": score}})
            if score < self.threshold:
                result.kept.append(updated)
            else:
                result.dropped.append(Dropped(updated, self.name,
                                              f"IFD {score:.2f} >= {self.threshold}: the answer is no easier to predict "
                                              f"with the instruction (loss {conditioned:.2f}) than without (loss {alone:.2f})",
                                              score))
        return result


def lm_loss(model: Any, tokenizer: Any) -> Callable[[str, str], float]:
    """Mean cross-entropy of `target` tokens after `prompt` (the tokenizer's BOS, or EOS, first) under `model`."""
    import torch

    prefix = tokenizer("x", add_special_tokens=True)["input_ids"][: -len(tokenizer("x", add_special_tokens=False)["input_ids"])]
    if not prefix and tokenizer.eos_token_id is not None:
        # No BOS (SmolLM2, GPT-2): start with EOS, the usual document separator, so the answer's
        # first token is predicted from something when it stands alone.
        prefix = [tokenizer.eos_token_id]

    def loss(prompt: str, target: str) -> float:
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        t_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        ids = [*prefix, *p_ids, *t_ids]
        if not t_ids or not prefix and not p_ids:
            return 0.0
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0, :-1].float()
        labels = torch.tensor(ids[1:])
        start = len(prefix) + len(p_ids) - 1  # the logit that predicts the first target token
        value = torch.nn.functional.cross_entropy(logits[start:], labels[start:]).item()
        return value if math.isfinite(value) else 0.0

    return loss


@register_filter("consistency", "the teacher, asked k times, agrees with the answer less than the majority of times")
def _consistency(config: Any, deps: dict[str, Any]) -> Consistency:
    c = config.consistency
    teacher = deps.get("teacher")
    if teacher is None:
        from seedtune.cache import CachedTeacher, RequestCache
        from seedtune.teachers import from_string

        kw = {"batch_size": c.batch_size, "dtype": c.dtype} if c.teacher.startswith("hf:") else {}
        teacher = CachedTeacher(from_string(c.teacher, base_url=c.base_url, **kw), RequestCache(c.cache))
    return Consistency(teacher, c.k, c.temperature, c.top_p, c.seed, c.short_max_units, c.rouge_threshold,
                       c.min_agreement, c.short_max_tokens, c.max_tokens)


@register_filter("ifd", "instruction-following difficulty: the answer is no easier to predict with the instruction")
def _ifd(config: Any, deps: dict[str, Any]) -> InstructionFollowingDifficulty:
    from seedtune.models import load_causal_lm
    from seedtune.prompts.formats import for_model

    c = config.ifd
    model, tokenizer = load_causal_lm(c.model, dtype=c.dtype)
    fmt = for_model(tokenizer)
    return InstructionFollowingDifficulty(lm_loss(model, tokenizer), fmt.render, c.threshold)

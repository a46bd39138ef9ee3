"""The one LLM judge, through any teacher: single-answer rating (evaluation's 1-10 grade,
curation's 1-5 rubric), position-controlled pairwise comparison, and a check of the judge itself
on pairs whose answer is known. `evaluate/judge.py` and `curate/judge.py` are thin adapters.

LLM judges prefer whichever answer they read first (Zheng et al. 2023, "Judging LLM-as-a-Judge
with MT-Bench and Chatbot Arena", §3.3). So every pair is asked twice, A/B and B/A; a verdict
counts only when both orders agree, and a flip counts as a tie. We report how often the two
orders agree (swap consistency) and whether verdicts follow answer length (verbosity bias), so a
reader can tell a real win from a judge's habit. Prompts are template files (EN + ZH) next to
this module (`templates/`), rendered in the Jinja sandbox.

Two ways to read a verdict:
- `generate`: the judge explains, then writes [[A]] / [[B]] / [[C]] or "Rating: [[N]]", which we
  parse. Best for strong judges (GPT-4 class), whose explanation helps them.
- `logprobs`: the judge is asked for a single letter (or a digit 1-5) and we read the probability
  of each choice at the first position of its reply, as G-Eval does (Liu et al. 2023). Every
  reply gives a verdict, small local models included, and a single-answer rating is the
  probability-weighted mean rather than one sampled digit.

Whichever way, a judge can be wrong in ways no bias statistic shows. `check_judge` asks it about
pairs built from the suite where the answer is known (the reference answer against an echo of
the input, or against the answer to another task), without showing the reference; a judge that
cannot pick the reference there has verdicts that are not evidence, and the report says so.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from seedtune.lexicon import normalise
from seedtune.prompts.formats import render_sandboxed
from seedtune.teachers import Completion, Request, Teacher

# "[[7]]", "Rating: 7", "**Score:** 4/5", "评分：4", "得分 = 3" (bold, slashes and Chinese labels allowed)
_RATING_RE = re.compile(r"(?:\[\[\s*(\d+(?:\.\d+)?)\s*\]\]|(?:rating|score|评分|分数|得分)\s*\**\s*[:：=]?\s*\**\s*(\d+(?:\.\d+)?))",
                        re.I)
_LONE_NUMBER_RE = re.compile(r"^\s*\**(\d+)\**\s*(?:/\s*\d+)?\s*$", re.MULTILINE)
_REASON_RE = re.compile(r"(?:reason|explanation|理由|原因)\s*\**\s*[:：]\s*\**\s*(.+)", re.I)
_VERDICT_RE = re.compile(r"\[\[\s*([ABC])\s*\]\]")

Verdict = Literal["generate", "logprobs"]
PAIR_CHOICES = ("A", "B", "C")
RATING_CHOICES = ("1", "2", "3", "4", "5")
# A judge that picks the known-right answer in fewer of the check pairs than this (ties count
# half, so chance is 0.5) is reported as unreliable.
RELIABLE_ACCURACY = 0.75


@lru_cache(maxsize=None)
def template(name: str, lang: str) -> str:
    """Judge prompt template `name` ('single', 'pair', 'single_choice', 'pair_choice', 'rubric') in 'en' or 'zh'."""
    lang = "zh" if lang.startswith("zh") else "en"
    return resources.files("seedtune.judging").joinpath("templates", f"{name}_{lang}.txt").read_text(encoding="utf-8")


def resolve_verdict(setting: str, judge: str) -> Verdict:
    """'auto' reads the probabilities of judges whose kind gives them (local `hf:`, `vllm:`, a
    plugin registered with `logprobs=True`) and lets API judges write their reasoning: many
    OpenAI-compatible servers do not return logprobs. `judge` is a teacher string."""
    if setting != "auto":
        return setting  # type: ignore[return-value]
    from seedtune.errors import ConfigError
    from seedtune.teachers import parse

    try:
        return "logprobs" if parse(judge).info.logprobs else "generate"
    except ConfigError:  # a teacher object's id rather than a string: ask it to write
        return "generate"


@dataclass(frozen=True)
class SingleItem:
    question: str
    answer: str
    reference: str = ""
    lang: str = "en"


@dataclass(frozen=True)
class PairItem:
    question: str
    answer_a: str
    answer_b: str
    reference: str = ""
    lang: str = "en"


@dataclass(frozen=True)
class PairVerdict:
    first: str | None  # verdict with A shown first: 'A', 'B', 'tie' or None (unparseable)
    second: str | None  # verdict with B shown first, mapped back to the original names
    # logprobs verdicts: each order's probabilities of 'A', 'B', 'tie' (original names) and how
    # much of the judge's first-token probability fell on the three letters at all.
    first_probs: dict[str, float] | None = None
    second_probs: dict[str, float] | None = None
    mass: float | None = None

    @property
    def consistent(self) -> bool:
        return self.first is not None and self.first == self.second

    @property
    def final(self) -> str:
        """'A', 'B' or 'tie': a verdict that changes with the order (or is missing) is a tie."""
        return self.first if self.consistent else "tie"  # type: ignore[return-value]

    def to_dict(self) -> dict:
        return {**asdict(self), "final": self.final, "consistent": self.consistent}


def parse_rating(text: str, scale: int = 10) -> float | None:
    """The 1-`scale` rating in a judge reply (the last one given; a lone number on a line when
    no labelled one), or None."""
    matches = _RATING_RE.findall(text)
    if matches:
        value = float(next(v for v in matches[-1] if v))
    else:
        lone = _LONE_NUMBER_RE.findall(text)
        if not lone:
            return None
        value = float(lone[-1])
    return value if 1 <= value <= scale else None


def parse_reason(text: str) -> str:
    """The judge's one-line reason ("Reason: ...", "理由：..."), else its reply on one line."""
    found = _REASON_RE.search(text)
    return found.group(1).strip() if found else " ".join(text.split())[:200]


@dataclass(frozen=True)
class Rating:
    score: float | None  # None: the reply had no readable rating
    reason: str


def parse_verdict(text: str) -> str | None:
    matches = _VERDICT_RE.findall(text)
    if not matches:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[matches[-1]]


def choice_probs(top: Mapping[str, float], choices: Sequence[str]) -> tuple[dict[str, float], float] | None:
    """(probabilities of `choices`, normalised among themselves; the total probability they had)
    from a {token: logprob} map, or None when no choice is among the tokens. Tokens match a
    choice after surrounding spaces and brackets are stripped (' A', '[A', 'A.' all count)."""
    probs = dict.fromkeys(choices, 0.0)
    for token, logprob in top.items():
        key = token.strip().strip("[]().:：*\"'")
        if key in probs:
            probs[key] += math.exp(logprob)
    mass = sum(probs.values())
    if mass <= 0:
        return None
    return {c: p / mass for c, p in probs.items()}, mass


class Judge:
    """Grades answers with `teacher`, greedily, so a cached rerun gives the same verdicts."""

    def __init__(self, teacher: Teacher, max_tokens: int = 384, use_reference: bool = True,
                 verdict: Verdict = "generate", top_logprobs: int = 20):
        self.teacher = teacher
        self.max_tokens = max_tokens
        self.use_reference = use_reference
        self.verdict = verdict
        self.top_logprobs = top_logprobs
        self.raw: list[str] = []  # judge replies, kept for the report / debugging

    def _request(self, text: str) -> Request:
        if self.verdict == "logprobs":
            return Request.user(text, max_tokens=1, temperature=0.0, top_logprobs=self.top_logprobs)
        return Request.user(text, max_tokens=self.max_tokens, temperature=0.0)

    def _template(self, name: str, lang: str) -> str:
        return template(f"{name}_choice" if self.verdict == "logprobs" else name, lang)

    def score(self, items: Sequence[SingleItem]) -> list[float | None]:
        """A 1-10 score per item (None when the reply holds no rating)."""
        requests = [self._request(render_sandboxed(
            self._template("single", it.lang), question=it.question, answer=it.answer,
            reference=it.reference if self.use_reference else "")) for it in items]
        completions = self.teacher.generate(requests)
        self.raw.extend(c.text for c in completions)
        if self.verdict == "generate":
            return [parse_rating(c.text) for c in completions]
        ratings: list[float | None] = []
        for c in completions:
            found = _first_choices(c, RATING_CHOICES)
            if found is None:
                ratings.append(None)
                continue
            expected = sum(int(k) * p for k, p in found[0].items())  # 1-5
            ratings.append(1 + (expected - 1) * 9 / 4)  # onto the 1-10 scale of written ratings
        return ratings

    def rate(self, prompts: Sequence[str], scale: int) -> list[Rating]:
        """Ratings on 1-`scale` for rubric prompts already rendered (curation's quality rubric).
        Written verdicts keep the judge's reason; probability verdicts read the digits 1-`scale`."""
        completions = self.teacher.generate([self._request(p) for p in prompts])
        self.raw.extend(c.text for c in completions)
        if self.verdict == "generate":
            return [Rating(parse_rating(c.text, scale), parse_reason(c.text)) for c in completions]
        ratings = []
        for c in completions:
            found = _first_choices(c, [str(k) for k in range(1, scale + 1)])
            expected = sum(int(k) * p for k, p in found[0].items()) if found else None
            ratings.append(Rating(expected, "first-token probabilities" if found else "no probabilities in the reply"))
        return ratings

    def compare(self, items: Sequence[PairItem], use_reference: bool | None = None) -> list[PairVerdict]:
        """Each pair asked in both orders, all in one batch."""
        with_reference = self.use_reference if use_reference is None else use_reference
        requests = []
        for it in items:
            ref = it.reference if with_reference else ""
            tpl = self._template("pair", it.lang)
            requests.append(self._request(render_sandboxed(tpl, question=it.question, answer_a=it.answer_a,
                                                           answer_b=it.answer_b, reference=ref)))
            requests.append(self._request(render_sandboxed(tpl, question=it.question, answer_a=it.answer_b,
                                                           answer_b=it.answer_a, reference=ref)))
        completions = self.teacher.generate(requests)
        self.raw.extend(c.text for c in completions)
        verdicts = []
        for i in range(len(items)):
            one, two = completions[2 * i], completions[2 * i + 1]
            if self.verdict == "generate":
                verdicts.append(PairVerdict(parse_verdict(one.text), _swap(parse_verdict(two.text))))
                continue
            got_one, got_two = _first_choices(one, PAIR_CHOICES), _first_choices(two, PAIR_CHOICES)
            p_one = _named(got_one[0]) if got_one else None
            # In the second order the letters name the answers the other way round.
            p_two = _named({"A": got_two[0]["B"], "B": got_two[0]["A"], "C": got_two[0]["C"]}) if got_two else None
            first = max(p_one, key=p_one.__getitem__) if p_one else None
            second = max(p_two, key=p_two.__getitem__) if p_two else None
            masses = [g[1] for g in (got_one, got_two) if g]
            verdicts.append(PairVerdict(first, second, p_one, p_two, sum(masses) / len(masses) if masses else None))
        return verdicts


def _first_choices(completion: Completion, choices: Sequence[str]) -> tuple[dict[str, float], float] | None:
    """`choice_probs` of a reply's first token, or None when the teacher sent no logprobs."""
    return choice_probs(completion.top_logprobs[0], choices) if completion.top_logprobs else None


def _swap(verdict: str | None) -> str | None:
    """A verdict given with the answers' order reversed, in the original names."""
    return {"A": "B", "B": "A"}.get(verdict, verdict) if verdict else None


def _named(probs: Mapping[str, float]) -> dict[str, float]:
    return {"A": probs["A"], "B": probs["B"], "tie": probs["C"]}


# -- checking the judge --------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownPair:
    """A question with a right answer (its reference) and a wrong one (`kind` says how it was made)."""

    question: str
    right: str
    wrong: str
    lang: str
    kind: Literal["echo", "other-task"]


def known_pairs(instances: Sequence[Mapping[str, Any]], n: int, seed: int = 0) -> list[KnownPair]:
    """Up to `n` known pairs from suite instances (dicts with question, input, reference, lang, task).

    The wrong answer is the instance's input echoed back (what an untuned base model often
    does) when there is one, else the reference answer of a task in the same language.
    """
    rng = random.Random(seed)
    usable = [i for i in instances if str(i.get("reference", "")).strip()]
    by_lang: dict[str, list[Mapping[str, Any]]] = {}
    for inst in usable:
        by_lang.setdefault(inst["lang"], []).append(inst)
    order = list(usable)
    rng.shuffle(order)
    pairs: list[KnownPair] = []
    for inst in order:
        if len(pairs) >= n:
            break
        right = str(inst["reference"]).strip()
        echo = str(inst.get("input") or "").strip()
        if echo and _norm(echo) != _norm(right):
            pairs.append(KnownPair(inst["question"], right, echo, inst["lang"], "echo"))
            continue
        others = [o for o in by_lang[inst["lang"]] if o["task"] != inst["task"]
                  and _norm(str(o["reference"])) != _norm(right)]
        if others:
            pairs.append(KnownPair(inst["question"], right, str(rng.choice(others)["reference"]).strip(),
                                   inst["lang"], "other-task"))
    return pairs


_norm = normalise  # seedtune.lexicon: "the same text"


def check_judge(judge: Judge, pairs: Sequence[KnownPair]) -> dict[str, Any]:
    """How often the judge prefers the known-right answer, asked exactly as in real judging (both
    orders, same verdict rule) but without the reference, which would give the answer away."""
    items = [PairItem(p.question, p.right, p.wrong, "", p.lang) for p in pairs]
    verdicts = judge.compare(items, use_reference=False)
    right = sum(v.final == "A" for v in verdicts)
    wrong = sum(v.final == "B" for v in verdicts)
    n = len(verdicts)
    accuracy = (right + 0.5 * (n - right - wrong)) / n if n else None
    by_kind = {}
    for kind in sorted({p.kind for p in pairs}):
        sel = [v for p, v in zip(pairs, verdicts) if p.kind == kind]
        by_kind[kind] = {"n": len(sel), "right": sum(v.final == "A" for v in sel), "wrong": sum(v.final == "B" for v in sel)}
    return {
        "n": n, "right": right, "wrong": wrong, "ties": n - right - wrong, "accuracy": accuracy,
        "swap_consistency": sum(v.consistent for v in verdicts) / n if n else None,
        "unparsed": sum(v.first is None or v.second is None for v in verdicts),
        "by_kind": by_kind, "threshold": RELIABLE_ACCURACY,
        "reliable": accuracy is not None and accuracy >= RELIABLE_ACCURACY,
    }

"""An LLM judge through any teacher: 1-10 single-answer grading and position-controlled pairwise
comparison.

LLM judges prefer whichever answer they read first (Zheng et al. 2023, "Judging LLM-as-a-Judge
with MT-Bench and Chatbot Arena", §3.3). So every pair is asked twice, A/B and B/A; a verdict
counts only when both orders agree, and a flip counts as a tie. We report how often the two
orders agree (swap consistency) and whether verdicts follow answer length (verbosity bias), so a
reader can tell a real win from a judge's habit. Prompts are template files (EN + ZH) next to
this module, rendered in the Jinja sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from seedtune.prompts.formats import render_sandboxed
from seedtune.teachers import Request, Teacher
from seedtune.textsim import length_units

from seedtune.evaluate.stats import pearson

_RATING_RE = re.compile(r"(?:\[\[\s*(\d+(?:\.\d+)?)\s*\]\]|(?:rating|score|评分|分数)\s*[:：]\s*(\d+(?:\.\d+)?))", re.I)
_VERDICT_RE = re.compile(r"\[\[\s*([ABC])\s*\]\]")


@lru_cache(maxsize=None)
def template(name: str, lang: str) -> str:
    """Judge prompt template `name` ('single' or 'pair') in 'en' or 'zh'."""
    lang = "zh" if lang.startswith("zh") else "en"
    return resources.files("seedtune.evaluate").joinpath("templates", f"{name}_{lang}.txt").read_text(encoding="utf-8")


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
    final: str  # 'A', 'B' or 'tie'; disagreement between orders is a tie

    @property
    def consistent(self) -> bool:
        return self.first is not None and self.first == self.second

    def to_dict(self) -> dict:
        return {**asdict(self), "consistent": self.consistent}


def parse_rating(text: str) -> float | None:
    """The 1-10 rating in a judge reply (last one given), or None."""
    matches = _RATING_RE.findall(text)
    if not matches:
        return None
    value = float(next(v for v in matches[-1] if v))
    return value if 1 <= value <= 10 else None


def parse_verdict(text: str) -> str | None:
    matches = _VERDICT_RE.findall(text)
    if not matches:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[matches[-1]]


class Judge:
    """Grades answers with `teacher` (greedy, so a cached rerun gives the same verdicts)."""

    def __init__(self, teacher: Teacher, max_tokens: int = 384, use_reference: bool = True):
        self.teacher = teacher
        self.max_tokens = max_tokens
        self.use_reference = use_reference
        self.raw: list[str] = []  # judge replies, kept for the report / debugging

    def _request(self, text: str) -> Request:
        return Request.user(text, max_tokens=self.max_tokens, temperature=0.0)

    def score(self, items: Sequence[SingleItem]) -> list[float | None]:
        """A 1-10 score per item (None when the reply holds no rating)."""
        requests = [self._request(render_sandboxed(
            template("single", it.lang), question=it.question, answer=it.answer,
            reference=it.reference if self.use_reference else "")) for it in items]
        replies = [c.text for c in self.teacher.generate(requests)]
        self.raw.extend(replies)
        return [parse_rating(r) for r in replies]

    def compare(self, items: Sequence[PairItem]) -> list[PairVerdict]:
        """Each pair asked in both orders, all in one batch."""
        requests = []
        for it in items:
            ref = it.reference if self.use_reference else ""
            tpl = template("pair", it.lang)
            requests.append(self._request(render_sandboxed(tpl, question=it.question, answer_a=it.answer_a,
                                                           answer_b=it.answer_b, reference=ref)))
            requests.append(self._request(render_sandboxed(tpl, question=it.question, answer_a=it.answer_b,
                                                           answer_b=it.answer_a, reference=ref)))
        replies = [c.text for c in self.teacher.generate(requests)]
        self.raw.extend(replies)
        verdicts = []
        for i in range(len(items)):
            first = parse_verdict(replies[2 * i])
            swapped = parse_verdict(replies[2 * i + 1])
            second = {"A": "B", "B": "A"}.get(swapped, swapped) if swapped else None
            final = first if (first is not None and first == second) else "tie"
            verdicts.append(PairVerdict(first, second, final))
        return verdicts


def summarize_pairs(items: Sequence[PairItem], verdicts: Sequence[PairVerdict]) -> dict:
    """Win/tie/loss of B against A, swap consistency, position and length bias."""
    n = len(verdicts)
    wins = sum(v.final == "B" for v in verdicts)
    losses = sum(v.final == "A" for v in verdicts)
    parsed = [v for v in verdicts if v.first is not None and v.second is not None]
    # Position bias: in how many decided single-order verdicts did the answer shown first win?
    first_pos = sum((v.first == "A") + (v.second == "B") for v in parsed)
    decided = sum((v.first in ("A", "B")) + (v.second in ("A", "B")) for v in parsed)
    # Verbosity bias: verdict (+1 B, 0 tie, -1 A) against length(B) - length(A), per order.
    score = {"B": 1.0, "A": -1.0, "tie": 0.0}
    xs, ys = [], []
    for it, v in zip(items, verdicts):
        diff = length_units(it.answer_b) - length_units(it.answer_a)
        for single in (v.first, v.second):
            if single is not None:
                xs.append(diff)
                ys.append(score[single])
    return {
        "n": n, "wins": wins, "ties": n - wins - losses, "losses": losses,
        "win_rate": (wins + 0.5 * (n - wins - losses)) / n if n else None,
        "swap_consistency": sum(v.consistent for v in verdicts) / n if n else None,
        "unparsed": n - len(parsed),
        "first_position_win_rate": first_pos / decided if decided else None,
        "length_correlation": pearson(xs, ys),
    }

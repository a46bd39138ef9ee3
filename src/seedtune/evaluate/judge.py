"""Evaluation's view of the one judge (`seedtune.judging`): everything the judge does lives there;
this module keeps the names evaluation has always used and adds the eval-only summary of
pairwise verdicts (win rate, swap consistency, position and length bias)."""

from __future__ import annotations

from collections.abc import Sequence

from seedtune.judging import (PAIR_CHOICES, RATING_CHOICES, RELIABLE_ACCURACY, Judge, KnownPair, PairItem,  # noqa: F401
                              PairVerdict, SingleItem, Verdict, check_judge, choice_probs, known_pairs, parse_rating,
                              parse_verdict, resolve_verdict, template)
from seedtune.textsim import length_units

from seedtune.evaluate.stats import pearson


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
    masses = [v.mass for v in verdicts if v.mass is not None]
    return {
        "n": n, "wins": wins, "ties": n - wins - losses, "losses": losses,
        "win_rate": (wins + 0.5 * (n - wins - losses)) / n if n else None,
        "swap_consistency": sum(v.consistent for v in verdicts) / n if n else None,
        "unparsed": n - len(parsed),
        "first_position_win_rate": first_pos / decided if decided else None,
        "length_correlation": pearson(xs, ys),
        "choice_mass": sum(masses) / len(masses) if masses else None,
    }



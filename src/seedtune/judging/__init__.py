"""The one LLM judge (services floor): rating, pairwise comparison with both orders, verdicts
written or read from letter probabilities, and the check on known pairs. Used by evaluation
(`evaluate/judge.py`) and by curation's `llm-judge` filter (`curate/judge.py`)."""

from seedtune.judging.judge import (PAIR_CHOICES, RATING_CHOICES, RELIABLE_ACCURACY, Judge, KnownPair, PairItem,
                                    PairVerdict, Rating, SingleItem, Verdict, check_judge, choice_probs, known_pairs,
                                    parse_rating, parse_reason, parse_verdict, resolve_verdict, template)

__all__ = ["PAIR_CHOICES", "RATING_CHOICES", "RELIABLE_ACCURACY", "Judge", "KnownPair", "PairItem", "PairVerdict",
           "Rating", "SingleItem", "Verdict", "check_judge", "choice_probs", "known_pairs", "parse_rating",
           "parse_reason", "parse_verdict", "resolve_verdict", "template"]

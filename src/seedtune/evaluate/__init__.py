"""Evaluation on unseen tasks: zero-shot, few-shot and chain-of-thought, base vs tuned.

`evaluate(EvalConfig(...)) -> EvalResult` runs every model in every mode on the same instances
and writes predictions.jsonl, scores.json, report.md and report.html. The pieces are usable on
their own: `load_suite`, `rouge_l` and the other metrics, `extract_answer`, `Judge`,
`paired_compare`, and `EvalScores` (scores.json as typed objects: `EvalScores.read(path)`).
"""

from __future__ import annotations

from seedtune.evaluate.metrics import bleu, chrf, exact_match, normalize_answer, rouge_l

__all__ = [
    "EvalConfig",
    "EvalResult",
    "EvalScores",
    "evaluate",
    "load_suite",
    "rouge_l",
    "exact_match",
    "normalize_answer",
    "bleu",
    "chrf",
]


def __getattr__(name: str):  # lazy: `from seedtune.evaluate import rouge_l` stays light
    if name == "EvalConfig":
        from seedtune.evaluate.config import EvalConfig

        return EvalConfig
    if name == "EvalScores":
        from seedtune.evaluate.results import EvalScores

        return EvalScores
    if name in ("EvalResult", "evaluate"):
        from seedtune.evaluate import runner

        return getattr(runner, name)
    if name == "load_suite":
        from seedtune.evaluate.suites import load_suite

        return load_suite
    raise AttributeError(name)

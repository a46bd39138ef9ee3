"""Three models (base, SFT, SFT+DPO): each later model against the baseline and, with
compare_previous, against the model before it; mean answer length per model and mode."""

from __future__ import annotations

import pytest

from seedtune.evaluate.scoring import aggregate
from seedtune.evaluate.suites import Instance, Suite, Task


def _rows(model: str, scores: list[float], response: str) -> list[dict]:
    return [{"model": model, "mode": "zero", "task": "t", "instance": str(i), "category": "c", "score": s,
             "scores": {"rouge_l": s}, "extraction": {"ok": True}, "contaminated": False, "response": response}
            for i, s in enumerate(scores)]


def test_compare_previous_and_mean_length():
    suite = Suite("s", [Task("t", "do it", [Instance(str(i), "", ["x"]) for i in range(4)])])
    rows = (_rows("base", [0, 0, 0, 0], "a") + _rows("tuned", [0.5, 0.5, 0.5, 0.5], "a b c")
            + _rows("tuned+dpo", [1, 1, 1, 0.5], "一二三四五六"))
    plain = aggregate(rows, suite, ["base", "tuned", "tuned+dpo"], ["zero"], samples=100)
    assert [(d.a, d.b) for d in plain.deltas.models] == [("base", "tuned"), ("base", "tuned+dpo")]
    chained = aggregate(rows, suite, ["base", "tuned", "tuned+dpo"], ["zero"], samples=100, compare_previous=True)
    pairs = [(d.a, d.b) for d in chained.deltas.models]
    assert pairs[-1] == ("tuned", "tuned+dpo")
    assert chained.deltas.models[-1].overall.delta == pytest.approx(0.375)
    lengths = {m: chained.results[m]["zero"].overall.mean_length for m in ("base", "tuned", "tuned+dpo")}
    assert lengths == {"base": 1.0, "tuned": 3.0, "tuned+dpo": 6.0}

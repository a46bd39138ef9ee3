"""What is in a record file: the numbers `seedtune data inspect` prints.

Lengths are in `textsim.length_units` (words for Latin text, characters for CJK), so English and
Chinese data read on one scale. Percentiles use the nearest-rank definition (the smallest value
with at least p% of the data at or below it), which always returns an observed length.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from seedtune.records import Record
from seedtune.textsim import length_units

LENGTH_FIELDS = ("instruction", "input", "output")


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already-sorted values, p in (0, 100]."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def length_summary(values: Iterable[int]) -> dict[str, float]:
    data = sorted(values)
    if not data:
        return {"n": 0, "min": 0, "median": 0, "mean": 0.0, "p95": 0, "max": 0}
    return {"n": len(data), "min": data[0], "median": statistics.median(data), "mean": round(statistics.fmean(data), 2),
            "p95": nearest_rank(data, 95), "max": data[-1]}


def lengths_by_category(records: Iterable[Record]) -> dict[str, dict[str, float]]:
    """`length_summary` of the answers (a conversation's last assistant turn) per category,
    non-empty ones, largest category first: does the data teach full answers where a task calls
    for them, or one sentence everywhere?"""
    groups: dict[str, list[int]] = {}
    for r in records:
        text = r.answer
        if text.strip():
            groups.setdefault(r.category or "(none)", []).append(length_units(text))
    return {cat: length_summary(v) for cat, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))}


def inspect_records(records: Sequence[Record], top: int = 20) -> dict[str, Any]:
    """Counts, sources, languages, lengths, categories, tasks, empties and duplicate ids, as a dict
    that serialises to JSON as is. `top` limits the task list (the total task count is exact).
    Length statistics cover non-empty values only; `n` says how many."""
    records = list(records)
    ids = Counter(r.id for r in records)
    duplicated = {i: c for i, c in ids.items() if c > 1}
    tasks = Counter(r.task for r in records if r.task)
    return {
        "count": len(records),
        "sources": dict(Counter(r.source for r in records).most_common()),
        "languages": dict(Counter(r.lang or "unknown" for r in records).most_common()),
        "categories": dict(Counter(r.category or "(none)" for r in records).most_common()),
        "tasks": {"count": len(tasks), "top": dict(tasks.most_common(top))},
        # Over non-empty values: most records have no input, and zeros would hide the real lengths;
        # the empties are counted on their own below.
        "lengths": {f: length_summary(length_units(v) for r in records if (v := getattr(r, f)).strip())
                    for f in LENGTH_FIELDS},
        "output_lengths_by_category": lengths_by_category(records),
        "empty": {
            "input": sum(1 for r in records if not r.input.strip()),
            "output": sum(1 for r in records if not r.output.strip()),
        },
        "multi_turn": sum(1 for r in records if r.messages),
        "with_system": sum(1 for r in records if r.system),
        "classification": sum(1 for r in records if r.is_classification),
        "duplicate_ids": {"records": sum(c - 1 for c in duplicated.values()), "ids": len(duplicated),
                          "examples": sorted(duplicated, key=lambda i: -duplicated[i])[:5]},
    }

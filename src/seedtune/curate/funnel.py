"""The funnel: filters in order (cheapest first), counts in and out of each, a table and funnel.json."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedtune.curate.base import Dropped, Filter, FilterResult
from seedtune.records import Record


@dataclass
class Step:
    filter: str
    n_in: int
    n_out: int
    seconds: float
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.n_in - self.n_out

    def to_dict(self) -> dict[str, Any]:
        return {"filter": self.filter, "in": self.n_in, "out": self.n_out, "dropped": self.dropped,
                "seconds": round(self.seconds, 3), "top_reasons": [{"reason": r, "count": c} for r, c in self.top_reasons],
                **self.extra}


@dataclass
class FunnelResult:
    kept: list[Record]
    dropped: list[Dropped]
    steps: list[Step]

    def to_dict(self, n_input: int) -> dict[str, Any]:
        return {"input": n_input, "kept": len(self.kept), "dropped": len(self.dropped),
                "steps": [s.to_dict() for s in self.steps]}


def order_filters(filters: Sequence[Filter], order: str = "cost") -> list[Filter]:
    """Cheapest first (stable, so equal costs keep the user's order), or exactly as given."""
    return sorted(filters, key=lambda f: f.cost) if order == "cost" else list(filters)


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: numbers and quoted text vary per record, the kind does not."""
    import re

    return re.sub(r"\b[0-9a-f]{16}\b|'[^']*'|\"[^\"]*\"|\d+(?:\.\d+)?", "…", reason)[:80]


def run_funnel(records: Sequence[Record], filters: Sequence[Filter], progress: Any = None,
               trusted_sources: Sequence[str] = ()) -> FunnelResult:
    """Run `filters` in order. Records whose `source` is in `trusted_sources` (hand-written seeds,
    say) bypass the *heuristic* filters — rules of thumb aimed at teacher output — but still go
    through deduplication and decontamination, which are about the data set, not the writer."""
    current = list(records)
    dropped: list[Dropped] = []
    steps: list[Step] = []
    trusted = frozenset(trusted_sources)
    for f in filters:
        start = time.perf_counter()
        if progress is not None:
            progress(f.name, len(current))
        if trusted and getattr(f, "heuristic", False):
            out = _with_exemptions(f, current, trusted)
        else:
            out = f(current)
        seconds = time.perf_counter() - start
        if len(out.kept) + len(out.dropped) != len(current):  # a filter must account for every record
            raise RuntimeError(f"filter {f.name} returned {len(out.kept)} kept + {len(out.dropped)} dropped "
                               f"for {len(current)} records")
        kinds = Counter(_reason_kind(d.reason) for d in out.dropped).most_common(3)
        extra = f.stats() if hasattr(f, "stats") else {}
        steps.append(Step(f.name, len(current), len(out.kept), seconds, kinds, extra))
        dropped.extend(out.dropped)
        current = out.kept
    return FunnelResult(current, dropped, steps)


def _with_exemptions(f: Filter, records: list[Record], trusted: frozenset[str]) -> FilterResult:
    """Apply `f` to the untrusted records only; keep the original order of everything kept."""
    subject = [r for r in records if r.source not in trusted]
    out = f(subject) if subject else FilterResult(kept=[])
    pending = Counter(d.record.id for d in out.dropped)
    kept_in_order = iter(out.kept)  # filters return kept records in input order
    merged = []
    for record in records:
        if record.source in trusted:
            merged.append(record)
        elif pending[record.id] > 0:
            pending[record.id] -= 1
        else:
            merged.append(next(kept_in_order))
    return FilterResult(kept=merged, dropped=out.dropped)


def funnel_table(result: FunnelResult, n_input: int) -> Any:
    """A rich Table: one row per filter, counts in/out, share dropped, the most common reason."""
    from rich.table import Table

    table = Table(title=f"curation funnel: {n_input} in -> {len(result.kept)} kept", title_justify="left")
    for col, justify in (("filter", "left"), ("in", "right"), ("dropped", "right"), ("out", "right"),
                         ("% dropped", "right"), ("top reason", "left"), ("s", "right")):
        table.add_column(col, justify=justify, no_wrap=col != "top reason",  # type: ignore[arg-type]
                         overflow="ellipsis", max_width=48 if col == "top reason" else None)
    for s in result.steps:
        share = f"{100 * s.dropped / s.n_in:.1f}" if s.n_in else "-"
        reason = s.top_reasons[0][0] if s.top_reasons else ""
        table.add_row(s.filter, str(s.n_in), str(s.dropped), str(s.n_out), share, reason, f"{s.seconds:.2f}")
    return table

"""The Filter protocol, the drop record, and the registry of filters by name.

A filter takes records in order and returns the ones it keeps plus, for every one it drops, the
filter's name, a human-readable reason and (when it has one) the score that decided it. Nothing
is ever dropped silently: the funnel writes every `Dropped` to dropped.jsonl.

Filters declare a `cost` (rough relative cost per record) so the funnel can run the cheapest ones
first: cheap checks shrink the input of the expensive ones (embeddings, the LLM judge).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from seedtune.errors import ConfigError
from seedtune.records import Record


@dataclass
class Dropped:
    """One dropped record and why."""

    record: Record
    filter: str
    reason: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A dropped.jsonl row: the decision first (easy to grep), then the record's own fields."""
        return {"filter": self.filter, "reason": self.reason, "score": self.score, **self.record.to_dict()}


@dataclass
class FilterResult:
    kept: list[Record]
    dropped: list[Dropped] = field(default_factory=list)


@runtime_checkable
class Filter(Protocol):
    """records in order -> kept (in order) + dropped with (filter, reason, score)."""

    name: str
    cost: int

    def __call__(self, records: Sequence[Record]) -> FilterResult: ...


class RecordFilter:
    """Base for filters that judge each record on its own: implement `check`."""

    name = "record"
    cost = 1

    def check(self, record: Record) -> tuple[str, float | None] | None:
        """None to keep; (reason, score) to drop."""
        raise NotImplementedError

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        for record in records:
            verdict = self.check(record)
            if verdict is None:
                result.kept.append(record)
            else:
                reason, score = verdict
                result.dropped.append(Dropped(record, self.name, reason, score))
        return result


# name -> factory(config: CurateConfig, deps: dict) -> Filter. Factories receive the whole config
# so a filter reads its own section, and `deps` carries injected objects (teacher, encoder...).
Factory = Callable[..., Filter]
_REGISTRY: dict[str, Factory] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_filter(name: str, description: str) -> Callable[[Factory], Factory]:
    """Decorator: make a filter available as `--filter NAME` and in `curate.filters`."""

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        _DESCRIPTIONS[name] = description
        return factory

    return wrap


def filter_names() -> dict[str, str]:
    """Every registered filter name with its one-line description."""
    _load_builtins()
    return dict(_DESCRIPTIONS)


def build_filter(name: str, config: Any, deps: dict[str, Any] | None = None) -> Filter:
    _load_builtins()
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"'{name}' is not a known filter", key="curate.filters",
                          hint=f"choose from: {known}")
    return factory(config, deps or {})


def _load_builtins() -> None:
    # Importing the modules runs their @register_filter decorators.
    from seedtune.curate import consistency, decontam, dedup, judge, quality  # noqa: F401


def preview(text: str, limit: int = 60) -> str:
    """A one-line excerpt for reasons."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""The built-in filters by name: importing the filter modules here runs their `@register_filter`
decorators, so `base.py` (which the filters import) never has to import them back."""

from __future__ import annotations

from typing import Any

from seedtune.curate import consistency, decontam, dedup, judge, quality  # noqa: F401  (registers the built-in filters)
from seedtune.curate.base import _DESCRIPTIONS, _REGISTRY, Filter
from seedtune.errors import ConfigError


def filter_names() -> dict[str, str]:
    """Every registered filter name with its one-line description."""
    return dict(_DESCRIPTIONS)


def build_filter(name: str, config: Any, deps: dict[str, Any] | None = None) -> Filter:
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"'{name}' is not a known filter", key="curate.filters",
                          hint=f"choose from: {known}")
    return factory(config, deps or {})

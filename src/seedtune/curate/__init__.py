"""Curation: a funnel of filters, each dropping records with a reason, cheapest first.

    from seedtune.curate import curate, CurateConfig
    result = curate("pool.jsonl", "out/", CurateConfig(filters=["exact", "near-dup-rouge"]))

Filters are registered by name (`filter_names()`); `build_filter(name, config)` makes one.
"""

from seedtune.curate.base import Dropped, Filter, FilterResult, RecordFilter, register_filter
from seedtune.curate.catalog import build_filter, filter_names
from seedtune.curate.config import DEFAULT_FILTERS, CurateConfig
from seedtune.curate.run import CurateResult, curate

__all__ = ["CurateConfig", "CurateResult", "DEFAULT_FILTERS", "Dropped", "Filter", "FilterResult", "RecordFilter",
           "build_filter", "curate", "filter_names", "register_filter"]

"""Record files in every format seedtune reads and writes, detected automatically.

Formats: `jsonl` (our Record fields), `alpaca` (JSON array), `seed_tasks` (Self-Instruct),
`sharegpt`, `messages` (OpenAI chat), `csv`/`tsv` (with a column mapping), `parquet`, and `hf`
(a Hugging Face dataset saved with `save_to_disk`). One module per format family; this package
exposes the few functions the rest of seedtune uses.
"""

from __future__ import annotations

from seedtune.formats.api import (
    ConvertResult,
    convert,
    inspect_file,
    read_records,
    read_records_with_report,
    read_required_records,
    write_records,
)
from seedtune.formats.base import ReadReport, Rejected
from seedtune.formats.rows import read_rows, read_suite_records
from seedtune.formats.registry import FORMATS, detect_format, format_for_output, get_format

__all__ = [
    "FORMATS",
    "ConvertResult",
    "ReadReport",
    "Rejected",
    "convert",
    "detect_format",
    "format_for_output",
    "get_format",
    "inspect_file",
    "inspect_records",
    "read_records",
    "read_records_with_report",
    "read_required_records",
    "read_rows",
    "read_suite_records",
    "write_records",
]


def inspect_records(records, **kwargs):  # noqa: ANN001, ANN201 - thin lazy re-export
    """Counts, languages, length statistics, categories, tasks, empties, duplicate ids (see `stats`)."""
    from seedtune.formats.stats import inspect_records as _inspect

    return _inspect(records, **kwargs)

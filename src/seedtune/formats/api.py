"""Reading, writing and converting record files: the functions the rest of seedtune calls.

`read_records` returns the records; `read_records_with_report` also returns the rows it skipped
(with `on_error="skip"`) and where it wrote them. `write_records` writes atomically, and `convert`
chains the two with the checks a conversion needs: it never writes over its own input, and the
side file of rejected rows goes next to the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext, ReadReport, rejected_path_for
from seedtune.formats.registry import detect_format, format_for_output, get_format
from seedtune.io import same_file, write_jsonl
from seedtune.records import Record


def read_records_with_report(path: str | Path, format: str | None = None, on_error: str = "raise",
                             rejected_path: str | Path | None = None, **opts: Any) -> ReadReport:
    """Read a file (or dataset folder) into Records and say what was skipped.

    `format=None` detects it. `on_error="raise"` stops at the first bad row with one InputError
    naming file, line (or record index) and field; `"skip"` keeps going and writes the bad rows
    with their reasons to `rejected_path` when one is given (never beside the input unasked: a
    side file there would land in the user's data folder); the report holds them either way.
    Options: `columns={"instruction": "question"}` (any format), `source="converted"`, and per
    format `split=` (hf), `delimiter=` (csv/tsv).
    """
    path = Path(path)
    fmt = get_format(format) if format else get_format(detect_format(path))
    _check_options(fmt.name, fmt.options, opts)
    ctx = ReadContext(path, on_error)
    if not path.exists():
        raise ctx.fatal("file not found", hint="check the path")
    records = fmt.read(path, ctx, opts)
    report = ReadReport(path=path, format=fmt.name, records=records, rejected=ctx.rejected)
    if ctx.rejected and rejected_path is not None:
        side = Path(rejected_path)
        if same_file(side, path):
            raise InputError("the rejected-rows file would overwrite the input", path=side,
                             hint="pass a different rejected_path")
        write_jsonl(side, (r.to_dict() for r in ctx.rejected))
        report.rejected_path = side
    return report


def read_records(path: str | Path, format: str | None = None, on_error: str = "raise", **opts: Any) -> list[Record]:
    """Read a file (or dataset folder) into Records; see `read_records_with_report`."""
    return read_records_with_report(path, format=format, on_error=on_error, **opts).records


def read_required_records(path: str | Path, what: str, missing_hint: str, empty_hint: str) -> list[Record]:
    """Records a stage cannot start without: a missing or empty file is an InputError that names
    `what` the file was meant to be ("training data", "input") and says what to do."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found", path=path, hint=missing_hint)
    records = read_records(path)
    if not records:
        raise InputError(f"no records in the {what}", path=path, hint=empty_hint)
    return records


def write_records(path: str | Path, records: Iterable[Record], format: str | None = None, **opts: Any) -> int:
    """Write records atomically in `format` (default: from the extension); returns the count written.

    Options: `array=` (JSON array vs JSONL for JSON formats), `provenance=True` (keep our fields
    in Alpaca/ShareGPT/messages), `columns={"instruction": "question"}` and `fields=[...]`
    (csv/tsv column names and which fields to write).
    """
    path = Path(path)
    fmt = get_format(format) if format else get_format(format_for_output(path))
    _check_options(fmt.name, fmt.options, opts)
    records = list(records)
    for index, record in enumerate(records):
        if not isinstance(record, Record):
            raise InputError(f"expected a Record, got {type(record).__name__}", index=index,
                             hint="build records with seedtune.records.Record(...)")
    return fmt.write(path, records, opts)


def inspect_file(path: str | Path, format: str | None = None, on_error: str = "raise",
                 rejected_path: str | Path | None = None, **opts: Any) -> dict[str, Any]:
    """Read a file and describe it: format, counts, languages, lengths, categories, tasks, empties,
    duplicate ids (`stats.inspect_records`), plus how many rows were rejected in skip mode (written
    to `rejected_path` only when one is given)."""
    from seedtune.formats.stats import inspect_records

    report = read_records_with_report(path, format=format, on_error=on_error, rejected_path=rejected_path, **opts)
    summary = {"path": str(report.path), "format": report.format}
    summary.update(inspect_records(report.records))
    summary["rejected"] = report.n_rejected
    summary["rejected_path"] = str(report.rejected_path) if report.rejected_path else None
    return summary


@dataclass
class ConvertResult:
    """What a conversion did: formats, counts, and where skipped rows went."""

    source: Path
    target: Path
    from_format: str
    to_format: str
    n_read: int
    n_written: int
    n_rejected: int
    rejected_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def convert(source: str | Path, target: str | Path, from_format: str | None = None, to_format: str | None = None,
            on_error: str = "raise", columns: Mapping[str, str] | None = None,
            read_options: Mapping[str, Any] | None = None, write_options: Mapping[str, Any] | None = None) -> ConvertResult:
    """Read `source` in one format and write `target` in another; the input is never touched.

    `columns` maps record fields to the source's column names for reading. Rejected rows (with
    `on_error="skip"`) go to `<target stem>.rejected.jsonl` beside the target.
    """
    source, target = Path(source), Path(target)
    if same_file(source, target):
        raise InputError("the output is the input file; refusing to overwrite it", path=target,
                         hint="write to a new file name")
    to_name = get_format(to_format).name if to_format else format_for_output(target)
    side = rejected_path_for(target)
    if same_file(side, source):
        raise InputError("the rejected-rows file would overwrite the input", path=side,
                         hint="choose another output name")
    ropts = dict(read_options or {})
    if columns:
        ropts["columns"] = dict(columns)
    report = read_records_with_report(source, format=from_format, on_error=on_error, rejected_path=side, **ropts)
    written = write_records(target, report.records, format=to_name, **dict(write_options or {}))
    return ConvertResult(source, target, report.format, to_name, report.n_records, written,
                         report.n_rejected, report.rejected_path)


def _check_options(name: str, allowed: tuple[str, ...], opts: Mapping[str, Any]) -> None:
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to format {name!r}",
                         field=unknown[0], hint=f"options for {name}: {', '.join(allowed)}")



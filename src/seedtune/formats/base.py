"""What every format shares: the format spec, the read context that decides what a bad row does,
and the report a read hands back.

A reader never decides on its own whether a bad row is fatal. It hands a `RowError` to the
`ReadContext`, which either raises one `InputError` naming file, line (or record index) and field
(`on_error="raise"`, the default: a silent drop hides data bugs), or keeps the row and its reason
for the side file (`on_error="skip"`), so nothing the user gave us disappears without a trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seedtune.errors import InputError
from seedtune.records import Record

OnError = Literal["raise", "skip"]
ON_ERROR: tuple[str, ...] = ("raise", "skip")


class RowError(Exception):
    """One row that cannot become a record. `field` is a dotted path inside the row, if known."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class Rejected:
    """A row we did not read, with where it was and why: one line of the `.rejected.jsonl` file."""

    path: str
    reason: str
    line: int | None = None
    index: int | None = None
    field: str | None = None
    raw: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.path}
        if self.line is not None:
            out["line"] = self.line
        if self.index is not None:
            out["index"] = self.index
        if self.field is not None:
            out["field"] = self.field
        out["reason"] = self.reason
        out["raw"] = self.raw
        return out


@dataclass
class ReadReport:
    """The result of a read: the records, the rejected rows, and where the rejections were written."""

    path: Path
    format: str
    records: list[Record]
    rejected: list[Rejected] = field(default_factory=list)
    rejected_path: Path | None = None

    @property
    def n_records(self) -> int:
        return len(self.records)

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)


def skip_hint(path: Path) -> str:
    return (f"fix that row, or pass --on-error skip (on_error='skip' in Python) to skip bad rows; "
            f"they are then written with their reasons to {rejected_path_for(path).name}")


def rejected_path_for(path: Path) -> Path:
    """`<dir>/<stem>.rejected.jsonl`; for a dataset directory, a sibling of the directory."""
    path = Path(path)
    stem = path.name if path.is_dir() or not path.suffix else path.stem
    return path.parent / f"{stem}.rejected.jsonl"


class ReadContext:
    """Carries the file being read and the error policy through a reader."""

    def __init__(self, path: Path, on_error: str = "raise", *, hint: str | None = None):
        if on_error not in ON_ERROR:
            raise InputError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}",
                             field="on_error", hint="use 'raise' (stop at the first bad row) or 'skip'")
        self.path = Path(path)
        self.on_error = on_error
        # What a raised row error tells the user to do: by default the formats' --on-error skip and
        # side file; a reader whose caller offers neither (a suite, `generate templates`) says its own.
        self.hint = hint
        self.rejected: list[Rejected] = []

    def reject(self, error: RowError, *, line: int | None = None, index: int | None = None, raw: Any = None) -> None:
        """Raise one located `InputError`, or remember the row for the side file."""
        if self.on_error == "raise":
            raise InputError(error.message, path=self.path, line=line, index=index, field=error.field,
                             hint=self.hint or skip_hint(self.path))
        self.rejected.append(Rejected(str(self.path), error.message, line=line, index=index,
                                      field=error.field, raw=raw))

    def fatal(self, message: str, *, line: int | None = None, hint: str | None = None) -> InputError:
        """An error about the whole file (not one row): never skippable, so it is always raised."""
        return InputError(message, path=self.path, line=line, hint=hint)


Reader = Callable[[Path, ReadContext, dict[str, Any]], list[Record]]
Writer = Callable[[Path, Sequence[Record], dict[str, Any]], int]


@dataclass(frozen=True)
class Format:
    """A named format: how to read it, how to write it, and which file names suggest it."""

    name: str
    description: str
    extensions: tuple[str, ...]
    read: Reader
    write: Writer
    is_directory: bool = False
    options: tuple[str, ...] = ()

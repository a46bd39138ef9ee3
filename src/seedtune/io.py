"""File primitives every stage uses: atomic writes and append-only JSONL.

Outputs are written to a temporary file in the same directory and renamed into place, so an
interrupted write never leaves half a file, and we never truncate a user's file before the new
content is complete. Append-only JSONL (for resumable generation) flushes and fsyncs per batch.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from seedtune.errors import InputError, SeedtuneError, os_error


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; rename it over `path` only on success."""
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise os_error(exc, path) from exc
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full while writing: say which file, keep the old one
            raise os_error(exc, path) from exc
        raise


TEMP_SUFFIX = ".tmp"


def ensure_dir(path: str | Path, create: bool = True) -> Path:
    """Create folder `path` (and its parents); a regular file in the way is one clear error.
    With `create=False` only check that it could be created (nothing is left behind on failure)."""
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise SeedtuneError(f"{blocker} is a file, but an output folder is needed there"
                            + (f" (for {path})" if blocker != path else ""),
                            hint="choose another output path (or move that file away)")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, path) from exc
    return path


def remove_stale_temps(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temp files `atomic_writer` left for `names` in `folder` when a run was killed
    mid-write (`.kept.jsonl.abc123.tmp`); returns what was removed. Only call this for outputs
    this process owns: a concurrent writer of the same file would lose its temp file."""
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{glob.escape(name)}.*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when `a` and `b` name the same file or folder (symlinks and `..` resolved)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def refuse_output_over_input(output: str | Path, inputs: Iterable[str | Path | None], *, flag: str) -> None:
    """An output path that is one of the inputs would overwrite (or mix into) the user's data:
    refuse before any work, naming the flag to change."""
    for item in inputs:
        if item is not None and same_file(output, item):
            raise InputError(f"{flag} is the same path as an input ({item}); refusing to write over it",
                             path=output, field=flag, hint=f"pass a new path to {flag} (the input stays untouched)")


def write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path) as handle:
        handle.write(text)


def write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    with atomic_writer(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=indent, default=_json_default)
        handle.write("\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Write rows (dicts or objects with `to_dict`) as JSONL atomically; returns the row count."""
    count = 0
    with atomic_writer(path) as handle:
        for row in rows:
            handle.write(dumps_line(row))
            count += 1
    return count


# Characters that some line readers (Python's `str.splitlines`, JavaScript) take for line breaks.
# JSON allows them raw inside strings; we write them escaped so every reader sees one row per line.
_LINE_BREAKS_IN_STRINGS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


def dumps_line(row: Any) -> str:
    """One JSONL line (ends with a newline; line-break-like characters escaped)."""
    if hasattr(row, "to_dict"):
        row = row.to_dict()
    text = json.dumps(row, ensure_ascii=False, default=_json_default)
    for raw, escaped in _LINE_BREAKS_IN_STRINGS.items():
        text = text.replace(raw, escaped)  # these only occur inside JSON strings, where the escape means the same
    return text + "\n"


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSONL text: split on newlines only (`\r\n` too), never on U+2028/U+2029/U+0085
    or the other characters `str.splitlines` treats as breaks, which may sit raw inside a value."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def read_whole_rows(path: str | Path) -> tuple[list[dict], bool]:
    """(rows, torn) of a JSONL file without changing it: a last line with no newline (a write cut
    short by a kill) is left out and reported as `torn`. A missing file has no rows."""
    path = Path(path)
    if not path.exists():
        return [], False
    text = path.read_bytes().decode("utf-8")
    lines = jsonl_lines(text)
    torn = lines[-1] != ""
    return [json.loads(line) for line in lines[:-1] if line.strip()], torn


class JsonlAppender:
    """Append-only JSONL that survives SIGKILL: each `append_batch` is flushed and fsynced.

    On open, a trailing partial line (from a kill mid-write) is cut off so the file always ends
    on a whole record; `existing()` returns the records already there, for resuming. Open one only
    on a file known to be the caller's own output: the repair truncates.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as handle:
                handle.truncate(keep)

    def existing(self) -> list[dict]:
        return read_whole_rows(self.path)[0]

    def append_batch(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self._handle.write(dumps_line(row))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    import hashlib

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file's content; a folder, a missing file or other bytes are one located error."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"this is a folder, but the {what} must be a file", path=path, hint=f"pass the {what}'s path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise os_error(exc, path) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                         path=path, line=line,
                         hint="re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`") from None

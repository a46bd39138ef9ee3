"""Errors a user can act on.

Every error seedtune raises on purpose is a `SeedtuneError`: the CLI prints its message and hint
without a traceback and exits with status 2. Messages name the file, line and field where they
can, and the hint says what to do next.
"""

from __future__ import annotations

from pathlib import Path


class SeedtuneError(Exception):
    """An error with a message for the user and an optional hint on what to do next."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class InputError(SeedtuneError):
    """Bad user input, located as precisely as we can: file, line (or record index), field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        index: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
        self.path = str(path) if path is not None else None
        self.line = line
        self.index = index
        self.field = field
        where = []
        if self.path:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        elif index is not None:
            where.append(f"record {index}")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint)


class ConfigError(SeedtuneError):
    """A config value that fails validation; `key` is the dotted path the user must change."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        self.key = key
        super().__init__(f"config key '{key}': {message}" if key else message, hint)


# What to do about an operating-system error, by errno name: the message says what and where,
# the hint what to change. Anything else keeps the system's own wording.
_OS_HINTS = {
    "EACCES": ("permission denied", "choose a folder you can write to (or fix its permissions), then rerun"),
    "EPERM": ("operation not permitted", "choose a folder you can write to (or fix its permissions), then rerun"),
    "EROFS": ("the file system is read-only", "choose an output folder on a writable disk, then rerun"),
    "ENOSPC": ("no space left on the device", "free some space (or choose an output on another disk) and rerun "
                                              "the same command: finished work is kept"),
    "EDQUOT": ("disk quota exceeded", "free some space (or choose an output on another disk) and rerun"),
    "ENOTDIR": ("a part of this path is a regular file, not a folder",
                "choose an output path whose parent folders are folders (or move that file away)"),
    "EISDIR": ("this is a folder, but a file is needed here", "pass a file path, not a folder"),
    "ENOENT": ("no such file or folder", "check the path"),
    "ENAMETOOLONG": ("the path is too long", "choose a shorter path"),
}


def os_error(exc: OSError, path: str | Path | None = None) -> SeedtuneError:
    """An `OSError` as one user-facing message naming the path; `path` is used when the error has
    none (a failed `write()` or `fsync()` does not say which file it was writing)."""
    import errno as errno_names

    name = errno_names.errorcode.get(exc.errno or 0, "")
    what, hint = _OS_HINTS.get(name, (exc.strerror or str(exc), "check the path and rerun"))
    where = exc.filename if exc.filename is not None else path
    if getattr(exc, "filename2", None):
        where = f"{where} -> {exc.filename2}"
    return SeedtuneError(f"{where}: {what}" if where is not None else what, hint=hint)

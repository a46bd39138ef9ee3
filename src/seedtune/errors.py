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

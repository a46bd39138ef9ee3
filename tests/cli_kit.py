"""Driving the real console entry point in tests: exit status, stdout and stderr of one command."""

from __future__ import annotations

import sys


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001 - pytest fixtures
    """Run `seedtune ARGS` through `seedtune.cli.main` (which turns errors into messages and exit
    statuses) and capture its output; the console is wide so rich never wraps a path."""
    from seedtune.cli import main

    monkeypatch.setattr(sys, "argv", ["seedtune", *args])
    monkeypatch.setenv("COLUMNS", "400")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err

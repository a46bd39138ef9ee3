"""`seedtune evaluate` — owned by evaluation (issue 5). Placeholder until that work lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval", help="(not built yet)")
    def _placeholder() -> None:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError("'seedtune eval' is not built yet")

"""`seedtune models` — owned by the models work (issue 2). Placeholder until that work lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models", help="(not built yet)")
    def _placeholder() -> None:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError("'seedtune models' is not built yet")

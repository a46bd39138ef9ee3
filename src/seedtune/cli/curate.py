"""`seedtune curate` — owned by curation (issue 4). Placeholder until that work lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("curate", help="(not built yet)")
    def _placeholder() -> None:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError("'seedtune curate' is not built yet")

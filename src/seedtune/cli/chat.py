"""`seedtune chat` — owned by the main job (issue 6). Placeholder until that work lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("chat", help="(not built yet)")
    def _placeholder() -> None:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError("'seedtune chat' is not built yet")

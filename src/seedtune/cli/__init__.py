"""The `seedtune` command: a thin Typer app, one command per stage, in the order of the loop.

Each stage's commands live in their own module here and call exactly one API function; heavy
imports happen inside the command bodies so `seedtune --help` stays instant.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from seedtune.errors import SeedtuneError


class _LoopOrderGroup(TyperGroup):
    """Lists commands in the order the stage modules registered them: the order of the loop.

    Typer lists plain commands before sub-command groups, which would put `seedtune data` (a
    group) after `serve` instead of first.
    """

    order: list[str] = []

    def list_commands(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        rank = {name: i for i, name in enumerate(self.order)}
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: rank.get(n, len(rank)))


def _registered_names(typer_app: typer.Typer) -> list[str]:
    commands = [c.name or c.callback.__name__.replace("_", "-") for c in typer_app.registered_commands]
    return commands + [g.name for g in typer_app.registered_groups if g.name]


app = typer.Typer(
    cls=_LoopOrderGroup,
    name="seedtune",
    help="From a handful of seed tasks to an instruction-tuned model, with proof on unseen tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

@app.callback()
def _global_options(
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code",
        help="Allow models whose repository ships Python code to run it (read it first). Off by default."),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback behind an error (for bug reports)."),
) -> None:
    """From a handful of seed tasks to an instruction-tuned model, with proof on unseen tasks."""
    global _DEBUG
    _DEBUG = debug
    if trust_remote_code:
        import os

        from seedtune.models.loading import TRUST_ENV

        os.environ[TRUST_ENV] = "1"  # child processes (accelerate launch, servers) inherit the choice


# Registration order is the order `seedtune --help` lists commands: the order of the loop.
from seedtune.cli import data, generate, curate, train, evaluate, run, chat, serve, models  # noqa: E402

for _module in (data, generate, curate, train, evaluate, run, chat, serve, models):
    _before = set(_registered_names(app))
    _module.register(app)
    _LoopOrderGroup.order += [n for n in _registered_names(app) if n not in _before]


INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT (128 + 2)
_DEBUG = False  # set by the global --debug flag: errors then show their traceback

INTERRUPTED_HINT = ("rerun the same command to continue: answers already in the request cache are not asked "
                    "again and `seedtune run` skips finished stages; `train` continues from its last checkpoint "
                    "with --resume")


def main() -> None:
    """Entry point: user errors print one clear message (no traceback) and exit 2; Ctrl-C exits
    130 saying how to resume. `seedtune --debug ...` shows the traceback instead."""
    import os

    # seedtune draws its own progress bars; transformers' per-load "Loading weights" bars would
    # interleave with them on every model load. Users can turn them back on with the variable.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except SystemExit as exc:
        # Typer turns Ctrl-C into a silent exit with status 130; nothing else here exits 130.
        if exc.code == INTERRUPTED:
            _interrupted()
        raise
    except KeyboardInterrupt:  # pressed outside the command's own body (e.g. while importing)
        _interrupted()
    except SeedtuneError as exc:
        _fail(exc)
    except OSError as exc:  # disk full, permission denied, a path under a regular file, ...
        from seedtune.errors import os_error

        _fail(os_error(exc), cause=exc)


def _fail(exc: SeedtuneError, cause: BaseException | None = None) -> None:
    if _DEBUG:
        raise cause or exc
    _say(exc.message, exc.hint)
    sys.exit(2)


def _interrupted() -> None:
    if _DEBUG:
        raise
    _say("interrupted", INTERRUPTED_HINT)
    sys.exit(INTERRUPTED)


def _say(message: str, hint: str | None) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    console.print(f"[bold red]error:[/] {_escape(message)}", highlight=False)
    if hint:
        console.print(f"[yellow]hint:[/] {_escape(hint)}", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)

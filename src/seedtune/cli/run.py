"""`seedtune run pipeline.yaml` and `seedtune quickstart`: the whole loop in one run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

STAGES = "generate, curate, train, preference (when configured), eval, report"


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        pipeline: Path = typer.Argument(..., help="Pipeline YAML (see examples/)."),
        overrides: Optional[list[str]] = typer.Argument(None, help="Overrides as dotted key=value, e.g. train.learning_rate=1e-4."),
        start: Optional[str] = typer.Option(None, "--from", help=f"Rerun from this stage ({STAGES}), reusing earlier ones."),
        until: Optional[str] = typer.Option(None, "--until", help="Stop after this stage."),
    ) -> None:
        """Run generate -> curate -> train (-> preference) -> eval -> report in runs/NAME/; unchanged stages are skipped."""
        from seedtune.pipeline import run_pipeline

        _finish(run_pipeline(pipeline, overrides or [], start=start, until=until, log=_log))

    @app.command("quickstart")
    def quickstart_cmd(
        overrides: Optional[list[str]] = typer.Argument(None, help="Overrides as dotted key=value, e.g. eval.limit=1."),
        start: Optional[str] = typer.Option(None, "--from", help=f"Rerun from this stage ({STAGES})."),
        until: Optional[str] = typer.Option(None, "--until", help="Stop after this stage."),
        show_config: bool = typer.Option(False, "--show-config", help="Print the quickstart pipeline YAML and exit."),
    ) -> None:
        """The main job, offline: SmolLM2 teaches, Gemma-3-270m learns, base vs tuned on unseen tasks.

        SmolLM2-135M-Instruct generates data from our seed tasks, it is curated, Gemma-3-270m (base)
        is LoRA-tuned on it, and base vs tuned are compared on the held-out suite. Runs in
        ./runs/quickstart; a rerun reuses finished stages.
        """
        from seedtune.pipeline import quickstart, quickstart_config_path

        if show_config:
            typer.echo(quickstart_config_path().read_text(encoding="utf-8"))
            raise typer.Exit()
        _finish(quickstart(overrides or [], start=start, until=until, log=_log))


def _log(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold cyan]seedtune[/] {_escape(message)}", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _finish(result) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"run {result.run_dir}")
    for column in ("stage", "status", "seconds", "summary"):
        table.add_column(column)
    for o in result.outcomes:
        brief = ", ".join(f"{k}={v}" for k, v in o.summary.items() if isinstance(v, (int, float, str)) and k != "model")
        table.add_row(o.name, "skipped (unchanged)" if o.skipped else "ran", f"{o.seconds:.1f}", brief[:80])
    console.print(table)
    console.print(f"total {result.seconds:.1f}s")
    if result.report.exists():
        console.print(f"report: {result.report}", highlight=False)
    for label, model in result.models.items():
        console.print(f"{label} model: {model}  (loads with AutoModelForCausalLM.from_pretrained)", highlight=False)

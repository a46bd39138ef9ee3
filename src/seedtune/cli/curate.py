"""`seedtune curate IN OUT`: run the filter funnel and write kept/dropped/funnel.json to OUT."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("curate")
    def curate_cmd(
        input: Path = typer.Argument(..., help="Records to curate (JSONL, Alpaca JSON, seed_tasks, ...)."),
        output: Path = typer.Argument(..., help="Output directory: kept.jsonl, dropped.jsonl, funnel.json, diversity.md."),
        overrides: Optional[list[str]] = typer.Argument(None, help="Config overrides as key=value, e.g. near_dup.threshold=0.6."),
        filters: Optional[list[str]] = typer.Option(None, "--filter", "-f", help="Run only these filters (repeat). Default: the config's list."),
        threshold: Optional[float] = typer.Option(None, "--threshold", help="ROUGE-L threshold of near-dup-rouge (near_dup.threshold)."),
        against: Optional[Path] = typer.Option(None, "--against", help="Evaluation suite to decontaminate against (default: the shipped held-out suite)."),
        judge: Optional[str] = typer.Option(None, "--judge", help="Teacher for the llm-judge filter (hf:NAME, openai:MODEL); adds llm-judge."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config; its 'curate' section is used when present."),
        on_error: Optional[str] = typer.Option(None, "--on-error", help="Bad input rows: 'raise' (default) or 'skip' them into OUTPUT/rejected.jsonl."),
        list_filters: bool = typer.Option(False, "--list-filters", help="List the filters and exit."),
    ) -> None:
        """Filter records with a reason for every drop: duplicates, near-duplicates (ROUGE-L),
        length, keywords, refusals, language, truncation, contamination, LLM judge."""
        from rich.console import Console

        from seedtune.curate import CurateConfig, curate, filter_names
        from seedtune.curate.funnel import funnel_table

        console = Console()
        if list_filters:
            for name, text in filter_names().items():
                console.print(f"[bold]{name}[/]: {text}", highlight=False)
            raise typer.Exit()
        cfg = _load(CurateConfig, config, list(overrides or []), filters, threshold, against, judge)
        if on_error is not None:
            cfg = cfg.model_copy(update={"on_error": on_error}) if on_error in ("raise", "skip") else _bad_on_error(on_error)

        def progress(name: str, n: int) -> None:
            console.print(f"[dim]{name}: {n} records…[/]", highlight=False)

        result = curate(input, output, cfg, progress=progress)
        for message in result.messages:
            console.print(f"[yellow]{message}[/]", highlight=False)
        if result.n_input:
            console.print(funnel_table(result.funnel, result.n_input))
        console.print(f"kept {len(result.kept)} of {result.n_input} -> {output / 'kept.jsonl'}; "
                      f"reasons in {output / 'dropped.jsonl'} and {output / 'funnel.json'}", highlight=False)


def _bad_on_error(value: str):  # noqa: ANN202
    from seedtune.errors import ConfigError

    raise ConfigError(f"--on-error must be 'raise' or 'skip', got {value!r}", key="curate.on_error")


def _load(model, config, overrides, filters, threshold, against, judge):  # noqa: ANN001, ANN202
    """The one config path (`config.merge_section`): YAML's `curate` section < flags < key=value."""
    from seedtune.config import merge_section, validate

    flags = {"filters": list(filters) if filters else None, "near_dup.threshold": threshold,
             "decontamination.against": str(against) if against is not None else None, "judge.teacher": judge}
    data = merge_section(config, "curate", flags, overrides)
    if judge:  # --judge asks for the judge: add the filter to whatever list is in force
        names = list(data.get("filters") or model().filters)
        if "llm-judge" not in names:
            data["filters"] = names + ["llm-judge"]
    return validate(model, data, source=str(config) if config else None, prefix="curate")

"""`seedtune eval`: every model in every mode on the same unseen tasks, with the deltas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:  # the CLI imports the evaluation only when a command runs
    from seedtune.evaluate.results import EvalScores, InstructionBlock, ModeResult


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        model: list[str] = typer.Option([], "--model", "-m", help="Model to evaluate (repeat; the first is the baseline A): a directory, an embedded name, hf:NAME, openai:MODEL, vllm:NAME."),
        suite: list[str] = typer.Option([], "--suite", "-s", help="'heldout' (default), 'heldout-if', 'ifeval:PATH' (IFEval's input_data.jsonl layout), or a suite file (Self-Instruct JSONL, SuperNI task JSON or folder, any record file). Repeat to evaluate several (one scored against references plus any verifiable ones)."),
        on_error: Optional[str] = typer.Option(None, "--on-error", help="A bad line in an IFEval file: 'raise' (default) stops with file, line and field; 'skip' leaves it out and counts it."),
        modes: Optional[str] = typer.Option(None, "--modes", help="Comma-separated: zero, few:K, cot."),
        limit: Optional[int] = typer.Option(None, "--limit", "-n", help="At most N instances per task."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output directory."),
        label: list[str] = typer.Option([], "--label", help="Display name per --model, in the same order."),
        demos: Optional[str] = typer.Option(None, "--demos", help="Few-shot demonstrations: random (fixed seed), first, nearest (embeddings)."),
        judge: Optional[str] = typer.Option(None, "--judge", help="Judge teacher, e.g. hf:smollm2-135m-instruct or openai:gpt-4o-mini."),
        train_data: list[str] = typer.Option([], "--train-data", help="Training data file(s) to check suite tasks against for contamination."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL for openai: models."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Generation batch size for local models."),
        prices: Optional[str] = typer.Option(None, "--prices", help="Price table YAML/JSON {MODEL: {input: $/1M, output: $/1M}} for openai: models and judges."),
        max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Hard budget for openai: requests (models and judge); needs --prices."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file with eval settings (an 'eval' section or top level)."),
        overrides: Optional[list[str]] = typer.Argument(None, help="Further settings as key=value, e.g. max_new_tokens=64 demos=first."),
    ) -> None:
        """Evaluate models zero-shot, few-shot and with chain of thought on unseen tasks; write
        predictions.jsonl, scores.json, report.md and report.html, and print the tables."""
        import logging

        from rich.console import Console

        from seedtune.config import merge_section, validate
        from seedtune.evaluate import evaluate
        from seedtune.evaluate.config import EvalConfig

        # Flags given on the command line win over the config file; unset flags leave it alone.
        flags = {"suites": suite or None, "on_error": on_error, "modes": modes, "output": str(output) if output else None, "demos": demos,
                 "batch_size": batch_size, "limit": limit, "judge": judge, "base_url": base_url,
                 "models": model or None, "labels": label or None, "train_data": train_data or None,
                 "prices": prices, "max_cost": max_cost}
        data = merge_section(config, "eval", flags, overrides or [])
        if suite and not any(o.split("=", 1)[0].endswith("suite") for o in overrides or []):
            data.pop("suite", None)  # --suite flags replace a config file's `suite:` as well as its `suites:`
        from seedtune.errors import ConfigError

        if not data.get("models"):
            raise ConfigError("no model to evaluate", key="models",
                              hint="pass --model PATH_OR_NAME (repeat it to compare, baseline first)")
        if not data.get("output"):
            raise ConfigError("no output directory", key="output", hint="pass --output DIR")
        cfg = validate(EvalConfig, data, source=str(config) if config else None, prefix="eval" if config else "")

        console = Console(stderr=True)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        update, bar = _progress(console)
        try:
            result = evaluate(cfg, progress=update)
        finally:
            bar.stop()
        print_summary(result.scores, Console())
        Console().print(f"\nwrote {', '.join(str(p) for p in result.files.values())}"
                        f"  ({result.generated} generated, the rest from the cache)")


def _progress(console: Any):
    """A rich progress bar per step, fed by the runner's (what, done, total) callbacks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True)
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done, total=total)

    return update, bar


def print_summary(scores: EvalScores, console: Any) -> None:
    """Overall, per-mode, per-category and delta tables (the same numbers as scores.json)."""
    from rich.table import Table

    from seedtune.evaluate.results import direction, signed_ci

    for name, block in scores.instructions.items():
        _print_instructions(name, block, console)
    if scores.suite is None:  # verifiable suites only
        return
    models, modes, results = scores.model_labels, scores.modes, scores.results
    for label, hits in scores.contamination.items():
        console.print(f"[bold red]WARNING: {len(hits)} suite task(s) are in the training data of {label}: "
                      f"{', '.join(sorted(hits))} — they are not unseen; see report.[/]")
    overall = Table(title="Overall (mean primary score, 95% CI)")
    overall.add_column("model")
    for mode in modes:
        overall.add_column(mode, justify="right")
    for m in models:
        overall.add_row(m, *[results[m][mode].overall.with_ci() for mode in modes])
    console.print(overall)

    console.print(_per_model_and_mode("Per category", "category", models, modes, {
        c: [_num(_category_score(results[m][mode], c)) for mode in modes for m in models]
        for c in scores.suite.categories}))
    first = results[models[0]][modes[0]].tasks
    if len(first) <= 60:
        console.print(_per_model_and_mode("Per task", "task", models, modes, {
            t + (" ⚠" if first[t].contaminated else ""):
                [_num(results[m][mode].tasks[t].score) for mode in modes for m in models] for t in first}))

    deltas = scores.deltas.in_order()
    if deltas:
        table = Table(title="Differences (paired bootstrap 95% CI, sign test)")
        for col in ("comparison", "mode", "Δ", "95% CI", "better/equal/worse", "p"):
            table.add_column(col, justify="right" if col in ("Δ", "p") else "left")
        for d in deltas:
            o = d.overall
            colour = {1: "green", -1: "red", 0: "white"}[direction(o.ci_low, o.ci_high)]
            table.add_row(d.title, d.mode_name, f"[{colour}]{o.delta:+.3f}[/]", signed_ci(o.ci_low, o.ci_high),
                          f"{o.wins}/{o.ties}/{o.losses}", f"{o.p_sign:.3g}")
        console.print(table)
    _print_judge(scores.judge or {}, console)


def _category_score(cell: ModeResult, category: str) -> float | None:
    entry = cell.categories.get(category)
    return entry.score if entry else None


def _print_judge(judge: dict[str, Any], console: Any) -> None:
    for pair, per_mode in (judge.get("pairwise") or {}).items():
        for mode, s in per_mode.items():
            console.print(f"judge {pair} ({mode}): {s['wins']} wins / {s['ties']} ties / {s['losses']} losses, "
                          f"swap consistency {_num(s['swap_consistency'])}")
    check = judge.get("check") or {}
    if check.get("n"):
        colour = "green" if check["reliable"] else "yellow"
        console.print(f"[{colour}]judge check: right answer picked in {check['right']} of {check['n']} known pairs, "
                      f"wrong in {check['wrong']}, undecided in {check['ties']} (accuracy {_num(check['accuracy'])})[/]")
    if judge.get("warning"):
        console.print(f"[yellow]{judge['warning']}[/]")


def _print_instructions(name: str, block: InstructionBlock, console: Any) -> None:
    """IFEval's four numbers per model and mode, then B - A with paired CIs."""
    from rich.table import Table

    from seedtune.evaluate.results import NUMBERS, signed_ci

    table = Table(title=f"{name}: verifiable instructions ({block.suite.prompts} prompts, 95% CI)")
    for col in ("model", "mode", *NUMBERS):
        table.add_column(col, justify="left" if col in ("model", "mode") else "right")
    for mode in block.modes:
        for m in block.models:
            e = block.results[m][mode]
            table.add_row(m, mode, *[e.with_ci(k) for k in NUMBERS])
    console.print(table)
    for d in block.deltas:
        parts = [f"{k} {c.delta:+.3f} {signed_ci(c.ci_low, c.ci_high)}" for k, c in d.overall.items()]
        console.print(f"{name} {d.b} − {d.a} ({d.mode}): " + ", ".join(parts))
    if block.suite.skipped:
        console.print(f"[yellow]{block.suite.skipped} bad line(s) skipped (on_error=skip); see scores.json[/]")


def _per_model_and_mode(title: str, label: str, models: list[str], modes: list[str], rows: dict[str, list[str]]) -> Any:
    """A table with one row per label and one column per (mode, model), in `rows`' cell order."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column(label)
    for mode in modes:
        for m in models:
            table.add_column(f"{m}\n{mode}", justify="right")
    for name, cells in rows.items():
        table.add_row(name, *cells)
    return table


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"

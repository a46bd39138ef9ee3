"""`seedtune data convert` and `seedtune data inspect`: record files in any supported format.

Each command parses its options and calls one function of `seedtune.formats`; formats are
detected from the file name and content unless `--input-format`/`--output-format` say otherwise.
"""

from __future__ import annotations

from typing import Any, List, Optional

import typer

FORMAT_HELP = "jsonl | alpaca | seed_tasks | sharegpt | messages | csv | tsv | parquet | hf"


def parse_columns(pairs: list[str] | None) -> dict[str, str] | None:
    """['instruction=question', 'output=answer'] -> {'instruction': 'question', 'output': 'answer'}."""
    if not pairs:
        return None
    from seedtune.errors import ConfigError

    out: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise ConfigError(f"--column {pair!r} is not of the form FIELD=COLUMN", key="--column",
                              hint="e.g. --column instruction=question --column output=answer")
        out[field.strip()] = column.strip()
    return out


def _read_options(columns: list[str] | None, split: str | None, source: str | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    mapping = parse_columns(columns)
    if mapping:
        opts["columns"] = mapping
    if split:
        opts["split"] = split
    if source:
        opts["source"] = source
    return opts


data_app = typer.Typer(
    help="Read, convert and inspect record files (JSONL, Alpaca, Self-Instruct seed tasks, ShareGPT, "
         "OpenAI messages, CSV/TSV, Parquet, Hugging Face datasets).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

# `--from`/`--to` were the first names of the format flags; `seedtune run --from` names a stage,
# so the format flags say what they are and the old spellings still work, unlisted.
FROM_ALIAS = typer.Option(None, "--from", hidden=True, help="Old name of --input-format.")
TO_ALIAS = typer.Option(None, "--to", hidden=True, help="Old name of --output-format.")


def _one_of(value: str | None, alias: str | None, flag: str, old: str) -> str | None:
    if value is not None and alias is not None and value != alias:
        from seedtune.errors import ConfigError

        raise ConfigError(f"can't provide both {flag} {value} and {old} {alias}", key=flag.lstrip("-"),
                          hint=f"{old} is the old name of {flag}; pass one of them")
    return value if value is not None else alias


@data_app.command("convert")
def convert_cmd(
    source: str = typer.Argument(..., help="Input file (or a save_to_disk dataset folder)."),
    target: str = typer.Argument(..., help="Output file; its extension picks the format unless --output-format is given."),
    input_format: Optional[str] = typer.Option(None, "--input-format", help=f"Input format (default: detected). {FORMAT_HELP}"),
    output_format: Optional[str] = typer.Option(None, "--output-format", help=f"Output format (default: from the extension). {FORMAT_HELP}"),
    on_error: str = typer.Option("raise", "--on-error", help="raise: stop at the first bad row; skip: write bad rows "
                                 "with reasons to OUTPUT-STEM.rejected.jsonl and go on."),
    column: Optional[List[str]] = typer.Option(None, "--column", help="Map a record field to an input column, "
                                               "FIELD=COLUMN (repeatable), e.g. --column instruction=question."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to read from a DatasetDict folder."),
    source_tag: Optional[str] = typer.Option(None, "--source", help="Provenance for rows that have none "
                                             "(seed | human | converted | ...)."),
    provenance: bool = typer.Option(False, "--provenance", help="Keep seedtune's provenance fields in Alpaca, "
                                    "ShareGPT and messages output (other tools ignore them)."),
    from_alias: Optional[str] = FROM_ALIAS, to_alias: Optional[str] = TO_ALIAS,
) -> None:
    """Convert a record file from one format to another. The input is never modified."""
    from rich.console import Console

    from seedtune.formats import convert

    from_format = _one_of(input_format, from_alias, "--input-format", "--from")
    to_format = _one_of(output_format, to_alias, "--output-format", "--to")
    read_opts = _read_options(column, split, source_tag)
    columns = read_opts.pop("columns", None)
    write_opts = {"provenance": True} if provenance else {}
    with Console(stderr=True).status(f"converting {source} ..."):
        result = convert(source, target, from_format=from_format, to_format=to_format, on_error=on_error,
                         columns=columns, read_options=read_opts, write_options=write_opts)
    console = Console()
    unit = "tasks" if result.to_format == "seed_tasks" else "records"
    console.print(f"read [bold]{result.n_read}[/] records ({result.from_format}) from {result.source}; "
                  f"wrote [bold]{result.n_written}[/] {unit} ({result.to_format}) to {result.target}",
                  highlight=False)
    if result.n_rejected:
        console.print(f"[yellow]skipped {result.n_rejected} bad rows[/]; reasons in {result.rejected_path}",
                      highlight=False)


@data_app.command("inspect")
def inspect_cmd(
    path: str = typer.Argument(..., help="File (or a save_to_disk dataset folder) to describe; 'seeds' for seedtune's own seed tasks."),
    input_format: Optional[str] = typer.Option(None, "--input-format", help=f"Format (default: detected). {FORMAT_HELP}"),
    on_error: str = typer.Option("raise", "--on-error", help="raise | skip (bad rows are counted; --rejected writes them)."),
    rejected: Optional[str] = typer.Option(None, "--rejected", help="With --on-error skip: write the skipped rows "
                                           "with their reasons to this file (default: none is written)."),
    column: Optional[List[str]] = typer.Option(None, "--column", help="FIELD=COLUMN mapping (repeatable)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to read from a DatasetDict folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
    from_alias: Optional[str] = FROM_ALIAS,
) -> None:
    """Counts, sources, languages, length statistics, categories, tasks, empty fields, duplicate ids."""
    from seedtune.formats import inspect_file

    if path == "seeds":  # seedtune's own seed tasks, as `generate` and `run` call them
        from seedtune.data import seed_tasks_path

        path = str(seed_tasks_path())
    summary = inspect_file(path, format=_one_of(input_format, from_alias, "--input-format", "--from"),
                           on_error=on_error, rejected_path=rejected, **_read_options(column, split, None))
    if as_json:
        import json

        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_summary(summary)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _print_summary(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n = s["count"]
    console.print(f"[bold]{s['path']}[/] ({s['format']}): [bold]{n}[/] records, {s['tasks']['count']} tasks, "
                  f"{s['multi_turn']} multi-turn, {s['with_system']} with a system prompt, "
                  f"{s['classification']} classification", highlight=False)
    if s["rejected"]:
        where = f"reasons in {s['rejected_path']}" if s["rejected_path"] else "pass --rejected FILE to write them with reasons"
        console.print(f"[yellow]{s['rejected']} rows rejected[/]; {where}", highlight=False)

    lengths = Table(title="Lengths (words; characters for CJK), non-empty values", title_justify="left")
    for col in ("field", "n", "min", "median", "mean", "p95", "max"):
        lengths.add_column(col, justify="left" if col == "field" else "right")
    for field, stats in s["lengths"].items():
        lengths.add_row(field, *(f"{stats[k]:g}" for k in ("n", "min", "median", "mean", "p95", "max")))
    console.print(lengths)

    by_category = s.get("output_lengths_by_category") or {}
    if by_category:
        cats = Table(title="Output lengths per category (words; characters for CJK)", title_justify="left")
        for col in ("category", "n", "min", "median", "p95", "max"):
            cats.add_column(col, justify="left" if col == "category" else "right")
        for category, stats in by_category.items():
            cats.add_row(category, *(f"{stats[k]:g}" for k in ("n", "min", "median", "p95", "max")))
        console.print(cats)

    def share(count: int) -> str:
        return f"{100 * count / n:.1f}%" if n else "-"

    counts = Table(title="Counts", title_justify="left")
    for col in ("what", "value", "records", "share"):
        counts.add_column(col, justify="right" if col in ("records", "share") else "left")
    for what, key in (("source", "sources"), ("language", "languages"), ("category", "categories")):
        for value, count in s[key].items():
            counts.add_row(what, str(value), str(count), share(count))
    counts.add_row("empty", "input", str(s["empty"]["input"]), share(s["empty"]["input"]))
    counts.add_row("empty", "output", str(s["empty"]["output"]), share(s["empty"]["output"]))
    dup = s["duplicate_ids"]
    counts.add_row("duplicate id", f"{dup['ids']} ids", str(dup["records"]), share(dup["records"]))
    console.print(counts)
    if s["tasks"]["top"]:
        tasks = Table(title=f"Tasks (top {len(s['tasks']['top'])} of {s['tasks']['count']})", title_justify="left")
        tasks.add_column("task")
        tasks.add_column("records", justify="right")
        for task, count in s["tasks"]["top"].items():
            tasks.add_row(str(task), str(count))
        console.print(tasks)

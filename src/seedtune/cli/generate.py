"""`seedtune generate self-instruct|evol|respond|magpie|templates|constraints|preferences IN OUT`: thin wrappers over `seedtune.generate`.

Each command turns its flags into a dict and calls `seedtune.generate.api.generate` once; extra
`key=value` arguments override any config key (e.g. `teacher.rpm=500 max_rounds=20`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

gen_app = typer.Typer(help="Make instruction data with a teacher: Self-Instruct, Evol-Instruct, responses, Magpie, FLAN-style templates over a dataset, verifiable constraints, preference pairs.",
                      no_args_is_help=True)

# Shared teacher flags (typer has no option groups, so each command lists them through these defaults).
TEACHER = typer.Option(None, "--teacher", "-t", help="hf:NAME_OR_PATH | openai:MODEL | vllm:NAME, or a registered kind (teacher.teacher).")
BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")
CONCURRENCY = typer.Option(None, "--concurrency", "-j", help="Requests in flight (openai: teachers).")
BATCH = typer.Option(None, "--batch-size", help="Sequences per forward batch (hf: teachers).")
KEY_ENV = typer.Option(None, "--api-key-env", help="Environment variable with the API key (never the key itself).")
CACHE = typer.Option(None, "--cache", help="Request cache file (unset: the shared seedtune cache).")
PRICES = typer.Option(None, "--prices", help="Price table YAML/JSON: {MODEL: {input: $/1M, output: $/1M}}.")
MAX_COST = typer.Option(None, "--max-cost", help="Hard budget: no request whose worst case could cross it is sent; the run stops cleanly (needs --prices).")
CONFIG = typer.Option(None, "--config", "-c", help="YAML config (its 'generate:' section, or the whole file).")
SEED = typer.Option(None, "--seed", help="Run seed: same seed + same cache = same output.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
OVERRIDES = typer.Argument(None, help="Extra config as key=value (e.g. teacher.rpm=500).")


def _teacher(teacher: Any, base_url: Any, concurrency: Any, batch_size: Any, api_key_env: Any, cache: Any,
             prices: Any, max_cost: Any) -> dict[str, Any]:
    return {"teacher": teacher, "base_url": base_url, "concurrency": concurrency, "batch_size": batch_size,
            "api_key_env": api_key_env, "cache": str(cache) if cache else None,
            "prices": str(prices) if prices else None, "max_cost": max_cost}


def _run(method: str, inp: Path | str, out: Path, options: dict[str, Any], teacher: dict[str, Any] | None,
         config: Optional[Path], overrides: Optional[list[str]], quiet: bool, open_judge: Any = None) -> None:
    from rich.console import Console

    from seedtune.generate.api import generate

    summary = generate(method, inp, out, options, teacher, config, overrides or [], progress=not quiet,
                       open_judge=open_judge)
    console = Console(stderr=True)
    line = f"[green]done[/] {summary['accepted']} kept, {summary['rejected']} rejected -> {out}"
    if summary.get("resumed_rows"):
        line += f" (resumed: {summary['resumed_rows']} rows were already there)"
    if summary.get("cost") is not None:
        line += f"; cost {summary['cost']:.4f}"
        if summary.get("cost_per_kept") is not None:
            line += f" ({summary['cost_per_kept']:.6f} per kept example)"
    console.print(line, highlight=False)
    if summary.get("stopped_early"):
        undone = (summary.get("budget") or {}).get("undone_requests")
        console.print(f"[yellow]stopped early:[/] {summary['stopped_early']}"
                      + (f"; {undone} request(s) not sent, the rest of the input undone" if undone else "")
                      + "; rerun with a higher --max-cost to continue (stored answers are reused)", highlight=False)
    if summary.get("rebuilt"):
        console.print("the settings changed since the last run: the output was rebuilt from the request cache",
                      highlight=False)


@gen_app.command("self-instruct")
def self_instruct_cmd(
    inp: str = typer.Argument(..., metavar="IN", help="Seed tasks (any record format), or 'seeds' for ours."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL (append-only; rerun to resume)."),
    overrides: Optional[list[str]] = OVERRIDES,
    target: Optional[int] = typer.Option(None, "--target", "-n", help="New instructions to accept."),
    lang: Optional[str] = typer.Option(None, "--lang", help="auto | en | zh."),
    no_instances: bool = typer.Option(False, "--no-instances", help="Instructions only (answer later with respond)."),
    teacher: Optional[str] = TEACHER, base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    prices: Optional[Path] = PRICES, max_cost: Optional[float] = MAX_COST, seed: Optional[int] = SEED,
    config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Self-Instruct: grow seed tasks into new instructions + instances (ROUGE-L novelty < 0.7)."""
    options = {"target": target, "lang": lang, "seed": seed, "instances": False if no_instances else None}
    _run("self-instruct", inp, out, options,
         _teacher(teacher, base_url, concurrency, batch_size, api_key_env, cache, prices, max_cost),
         config, overrides, quiet)


@gen_app.command("evol")
def evol_cmd(
    inp: Path = typer.Argument(..., metavar="IN", help="Instructions to evolve (any record format)."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of surviving evolved, answered records."),
    overrides: Optional[list[str]] = OVERRIDES,
    rounds: Optional[int] = typer.Option(None, "--rounds", "-m", help="Evolution rounds M."),
    operations: Optional[str] = typer.Option(None, "--operations", help="Comma list: constraints,deepen,concretize,reasoning,complicate_input,breadth."),
    lang: Optional[str] = typer.Option(None, "--lang", help="auto | en | zh."),
    teacher: Optional[str] = TEACHER, base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    prices: Optional[Path] = PRICES, max_cost: Optional[float] = MAX_COST, seed: Optional[int] = SEED,
    config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Evol-Instruct: in-depth and in-breadth rewrites over M rounds, with the paper's elimination rules."""
    options = {"rounds": rounds, "lang": lang, "seed": seed,
               "operations": [o.strip() for o in operations.split(",") if o.strip()] if operations else None}
    _run("evol", inp, out, options,
         _teacher(teacher, base_url, concurrency, batch_size, api_key_env, cache, prices, max_cost),
         config, overrides, quiet)


# Evol-Instruct is `evol`; the paper's spellings still work, unlisted.
gen_app.command("evol-instruct", hidden=True)(evol_cmd)
gen_app.command("evol_instruct", hidden=True)(evol_cmd)


@gen_app.command("respond")
def respond_cmd(
    inp: Path = typer.Argument(..., metavar="IN", help="Instructions to answer (any record format)."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of answered records."),
    overrides: Optional[list[str]] = OVERRIDES,
    n: Optional[int] = typer.Option(None, "--n", help="Answers sampled per instruction."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token budget per answer."),
    system: Optional[str] = typer.Option(None, "--system", help="System prompt for every request."),
    teacher: Optional[str] = TEACHER, base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    prices: Optional[Path] = PRICES, max_cost: Optional[float] = MAX_COST, seed: Optional[int] = SEED,
    config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Answer instructions with a teacher (n samples each), as 'Instruction Tuning with GPT-4' did."""
    options = {"n": n, "temperature": temperature, "max_tokens": max_tokens, "system": system, "seed": seed}
    _run("respond", inp, out, options,
         _teacher(teacher, base_url, concurrency, batch_size, api_key_env, cache, prices, max_cost),
         config, overrides, quiet)


@gen_app.command("magpie")
def magpie_cmd(
    inp: str = typer.Argument(..., metavar="IN", help="Seed tasks the requests must not repeat (and whose language mix 'auto' follows), or 'seeds' for ours."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of teacher-written conversations (append-only; rerun to resume)."),
    overrides: Optional[list[str]] = OVERRIDES,
    target: Optional[int] = typer.Option(None, "--target", "-n", help="Conversations to keep."),
    turns: Optional[int] = typer.Option(None, "--turns", help="User turns per conversation."),
    lang: Optional[str] = typer.Option(None, "--lang", help="auto | en | zh."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token budget per answer."),
    teacher: Optional[str] = TEACHER, base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    prices: Optional[Path] = PRICES, max_cost: Optional[float] = MAX_COST, seed: Optional[int] = SEED,
    config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Magpie: an instruct teacher writes the user's request from its chat template's user-turn prefix, then answers it."""
    options = {"target": target, "turns": turns, "lang": lang, "max_tokens": max_tokens, "seed": seed}
    _run("magpie", inp, out, options,
         _teacher(teacher, base_url, concurrency, batch_size, api_key_env, cache, prices, max_cost),
         config, overrides, quiet)


@gen_app.command("constraints")
def constraints_cmd(
    inp: str = typer.Argument(..., metavar="IN", help="Answered records (any record format), or 'seeds' for ours."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of constrained records (+ .rejected.jsonl, .stats.json)."),
    overrides: Optional[list[str]] = OVERRIDES,
    families: Optional[str] = typer.Option(None, "--families", help="Comma list of constraint families (default: the training families)."),
    copies: Optional[int] = typer.Option(None, "--copies", help="Constrained variants per input record."),
    max_constraints: Optional[int] = typer.Option(None, "--max-constraints", help="At most this many constraints per record, 1-3."),
    teacher: Optional[str] = typer.Option(None, "--teacher", "-t", help="Rewrite answers with this teacher (verify-or-drop); default: transformations only."),
    base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    seed: Optional[int] = SEED, config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Verifiable constraints added to records, targets correct by construction (checked, or dropped)."""
    options = {"families": [f.strip() for f in families.split(",") if f.strip()] if families else None,
               "copies": copies, "max_constraints": max_constraints, "seed": seed}
    teacher_options = (_teacher(teacher, base_url, concurrency, batch_size, api_key_env, cache, None, None)
                       if teacher else None)
    _run("constraints", inp, out, options, teacher_options, config, overrides, quiet)


@gen_app.command("preferences")
def preferences_cmd(
    inp: str = typer.Argument(..., metavar="IN", help="Prompts (any record format): with constraints, an answer, or neither (judge)."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of pairs {prompt, chosen, rejected, margin, how} (+ .rejected.jsonl, .stats.json)."),
    overrides: Optional[list[str]] = OVERRIDES,
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A trained model directory that writes the answers (on-policy; same as --teacher hf:DIR)."),
    n: Optional[int] = typer.Option(None, "--n", help="Answers sampled per prompt."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token budget per answer."),
    routes: Optional[str] = typer.Option(None, "--routes", help="Scorers tried in order: checkers,reference,judge."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Pairwise judge for prompts without constraints or answer (hf:NAME | openai:MODEL)."),
    teacher: Optional[str] = TEACHER, base_url: Optional[str] = BASE_URL, concurrency: Optional[int] = CONCURRENCY,
    batch_size: Optional[int] = BATCH, api_key_env: Optional[str] = KEY_ENV, cache: Optional[Path] = CACHE,
    seed: Optional[int] = SEED, config: Optional[Path] = CONFIG, quiet: bool = QUIET,
) -> None:
    """Preference pairs: n answers per prompt, scored by checkers, a reference or a judge (both orders)."""
    if model is not None and teacher is not None:
        from seedtune.errors import ConfigError

        raise ConfigError("can't provide both --model and --teacher", key="teacher",
                          hint="--model DIR is short for --teacher hf:DIR; pass one of them")
    options = {"n": n, "temperature": temperature, "max_tokens": max_tokens, "seed": seed,
               "routes": [r.strip() for r in routes.split(",") if r.strip()] if routes else None,
               "judge": {"teacher": judge} if judge else None}
    spec = f"hf:{model}" if model is not None else teacher
    _run("preferences", inp, out, options,
         _teacher(spec, base_url, concurrency, batch_size, api_key_env, cache, None, None), config, overrides, quiet,
         open_judge=_open_judge)


def _open_judge(config: Any) -> Any:
    """The LLM judge for the preference pairs' judge route (opened here: generate may not import eval)."""
    if config.judge is None or "judge" not in config.routes:
        return None
    from seedtune.cache import RequestCache
    from seedtune.generate.pair_judge import open_pair_judge

    return open_pair_judge(config.judge, cache=RequestCache(config.teacher.cache), seed=config.seed)


@gen_app.command("templates")
def templates_cmd(
    inp: Path = typer.Argument(..., metavar="IN", help="A labelled dataset: JSONL, JSON array, CSV/TSV or Parquet."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output JSONL of instruction records."),
    overrides: Optional[list[str]] = OVERRIDES,
    kind: Optional[str] = typer.Option(None, "--kind", help="classification | qa | generation."),
    task: Optional[str] = typer.Option(None, "--task", help="Task name written into every record."),
    columns: Optional[str] = typer.Option(None, "--columns", help="role=column pairs, e.g. text=sentence,label=label."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Label names for raw values, e.g. 0=negative,1=positive."),
    description: Optional[str] = typer.Option(None, "--description", help="What a generation task asks (e.g. 'Summarize the article')."),
    shots: Optional[int] = typer.Option(None, "--shots", help="Examples in a few-shot prompt."),
    lang: Optional[str] = typer.Option(None, "--lang", help="auto | en | zh."),
    seed: Optional[int] = SEED, config: Optional[Path] = CONFIG,
) -> None:
    """FLAN-style templates: a labelled dataset phrased as instructions, several templates per task, zero- and few-shot, options listed or not (no teacher)."""
    options = {"kind": kind, "task": task, "description": description, "shots": shots, "lang": lang, "seed": seed,
               "columns": _pairs(columns, "--columns"), "label_names": _pairs(labels, "--labels")}
    _run("templates", inp, out, options, None, config, overrides, quiet=True)


# `templates` was `convert`; `seedtune data convert` converts file formats, so the old name is unlisted.
gen_app.command("convert", hidden=True)(templates_cmd)


def _pairs(text: Optional[str], flag: str) -> Optional[dict[str, str]]:
    if not text:
        return None
    from seedtune.errors import ConfigError

    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} item {part!r} is not key=value", key=flag.lstrip("-"),
                              hint=f"write e.g. {flag} text=sentence,label=label")
        pairs[key.strip()] = value.strip()
    return pairs


def register(app: typer.Typer) -> None:
    app.add_typer(gen_app, name="generate")

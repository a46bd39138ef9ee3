"""The four stages of `seedtune run` plus the report, each a thin call into its stage's API.

Read top to bottom, this file *is* the pipeline: seeds -> generate (pool.jsonl) -> curate
(kept.jsonl) -> train (model/) -> eval (scores.json) -> report (report.html) and lineage.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedtune.pipeline.config import PipelineConfig
from seedtune.pipeline.runner import RunContext, Stage


def seeds_path(config: PipelineConfig) -> Path:
    if config.seeds == "seeds":
        from seedtune.data import seed_tasks_path

        return Path(seed_tasks_path())
    return Path(config.seeds)


# -- 1. generate -----------------------------------------------------------------------------------

def run_generate(ctx: RunContext, out: Path) -> dict[str, Any]:
    """Seeds + Self-Instruct (+ Evol-Instruct, + responses, + Magpie) -> pool.jsonl."""
    from seedtune.formats import read_records
    from seedtune.generate.api import read_input
    from seedtune.io import write_jsonl

    cfg: PipelineConfig = ctx.config
    gen = cfg.generate
    seeds = read_input(seeds_path(cfg), "self-instruct")
    pool = list(seeds) if gen.include_seeds else []
    summary: dict[str, Any] = {"seeds": len(seeds)}
    current = seeds
    if gen.self_instruct:
        from seedtune.generate.self_instruct import self_instruct

        summary["self_instruct"] = self_instruct(seeds, out / "self_instruct.jsonl", gen.self_instruct)
        current = read_records(out / "self_instruct.jsonl")
        pool += current
    if gen.evol:
        from seedtune.generate.evol_instruct import evol_instruct

        summary["evol"] = evol_instruct(current, out / "evol.jsonl", gen.evol)
        pool += read_records(out / "evol.jsonl")
    if gen.respond:
        from seedtune.generate.respond import respond

        unanswered = [r for r in pool if not r.output]
        if unanswered:
            summary["respond"] = respond(unanswered, out / "respond.jsonl", gen.respond)
            pool = [r for r in pool if r.output] + read_records(out / "respond.jsonl")
    if gen.magpie:
        from seedtune.generate.magpie import magpie

        summary["magpie"] = magpie(seeds, out / "magpie.jsonl", gen.magpie)
        pool += read_records(out / "magpie.jsonl")
    summary["pool"] = write_jsonl(out / "pool.jsonl", pool)
    return summary


# -- 2. curate -------------------------------------------------------------------------------------

def run_curate(ctx: RunContext, out: Path) -> dict[str, Any]:
    """pool.jsonl -> kept.jsonl + dropped.jsonl + funnel.json (a reason for every drop)."""
    from seedtune.curate import curate

    result = curate(ctx.stage_dir("generate") / "pool.jsonl", out, ctx.config.curate)
    for message in result.messages:
        ctx.log(message)
    return {"input": result.n_input, "kept": len(result.kept), "dropped": len(result.dropped)}


# -- 3. train --------------------------------------------------------------------------------------

def train_config(ctx: RunContext, out: Path) -> Any:
    from seedtune.train.config import TrainConfig

    section = ctx.config.train.model_dump()
    section.update(data=str(ctx.stage_dir("curate") / "kept.jsonl"), output=str(out / "model"))
    return TrainConfig.model_validate(section)


def run_train(ctx: RunContext, out: Path) -> dict[str, Any]:
    """kept.jsonl -> a tuned model directory (adapter + merged weights + prompt format + lineage)."""
    from seedtune.train import train

    result = train(train_config(ctx, out), log=ctx.log)
    keys = ("train_tokens", "tokens_per_second", "peak_rss_mb", "final_loss", "eval_loss", "steps", "seconds")
    return {"model": str(result.output), **{k: result.metrics[k] for k in keys if k in result.metrics}}


# -- 4. eval ---------------------------------------------------------------------------------------

def eval_config(ctx: RunContext, out: Path) -> Any:
    from seedtune.evaluate.config import EvalConfig

    cfg: PipelineConfig = ctx.config
    section = cfg.eval.model_dump()
    tuned = ctx.outcomes["train"].summary.get("model") or str(ctx.stage_dir("train") / "model")
    section["models"] = [cfg.train.model, tuned, *cfg.eval.models]
    section["labels"] = ["base", "tuned", *cfg.eval.labels[2:]] if not cfg.eval.labels else cfg.eval.labels
    section["output"] = str(out)
    section["train_data"] = [*cfg.eval.train_data, str(ctx.stage_dir("curate") / "kept.jsonl")]
    return EvalConfig.model_validate(section)


def run_eval(ctx: RunContext, out: Path) -> dict[str, Any]:
    """Base vs tuned on the held-out suite, in every configured mode."""
    from seedtune.evaluate import evaluate

    result = evaluate(eval_config(ctx, out))
    return {"predictions": len(result.predictions), "generated": result.generated,
            "extraction_failures": result.extraction_failures,
            "contaminated_tasks": sorted({t for hits in result.contamination.values() for t in hits})}


# -- 5. report -------------------------------------------------------------------------------------

def run_report(ctx: RunContext, out: Path) -> dict[str, Any]:
    from seedtune.pipeline.report import write_pipeline_report

    return write_pipeline_report(ctx, out)


def build_stages(config: PipelineConfig) -> list[Stage]:
    """The pipeline as data: names, folders, the config each stage fingerprints, its inputs."""
    dump = lambda section: (lambda ctx: json.loads(section.model_dump_json()))  # noqa: E731
    return [
        Stage("generate", "1-generate", run_generate,
              lambda ctx: {"seeds": config.seeds, **json.loads(config.generate.model_dump_json())},
              inputs=lambda ctx: [seeds_path(config)]),
        Stage("curate", "2-curate", run_curate, dump(config.curate), depends=("generate",)),
        Stage("train", "3-train", run_train, dump(config.train), depends=("curate",)),
        Stage("eval", "4-eval", run_eval, dump(config.eval), depends=("train",)),
        Stage("report", "report", run_report, lambda ctx: {"version": 1}, depends=("generate", "curate", "train", "eval")),
    ]

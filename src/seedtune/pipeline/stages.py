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
    """Seeds + Self-Instruct (+ Evol-Instruct, + responses, + constraint data) -> pool.jsonl."""
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
    if gen.constraints:
        from seedtune.generate.constraints import add_constraints

        base = seeds if gen.constraints.source == "seeds" else pool
        summary["constraints"] = add_constraints([r for r in base if r.output], out / "constraints.jsonl",
                                                 gen.constraints, progress=False)
        pool += read_records(out / "constraints.jsonl")
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


# -- 3b. preference (optional) ---------------------------------------------------------------------

def preference_prompts(config: PipelineConfig, ctx: RunContext) -> Path:
    pref = config.preference
    return ctx.stage_dir("curate") / "kept.jsonl" if pref is None or pref.prompts == "kept" else Path(pref.prompts)


def run_preference(ctx: RunContext, out: Path) -> dict[str, Any]:
    """SFT model -> n answers per prompt -> pairs.jsonl (checkers / reference / judge) -> DPO model."""
    from seedtune.errors import SeedtuneError
    from seedtune.formats import read_records
    from seedtune.generate.preferences import preferences
    from seedtune.train import train
    from seedtune.train.config import TrainConfig

    cfg: PipelineConfig = ctx.config
    pref = cfg.preference
    sft = ctx.outcomes["train"].summary.get("model") or str(ctx.stage_dir("train") / "model")
    pairs_cfg = pref.pairs
    if pref.on_policy:  # the SFT model answers: the pairs are about its own mistakes
        pairs_cfg = pairs_cfg.model_copy(update={"teacher": pairs_cfg.teacher.model_copy(update={"teacher": f"hf:{sft}"})})
    prompts = read_records(preference_prompts(cfg, ctx))
    if pref.constraints is not None:  # new constraint draws on answered prompts: the checkers can score them
        from seedtune.generate.constraints import add_constraints

        base = [r for r in prompts if r.output and not r.meta.get("constraints")]
        add_constraints(base, out / "prompts.jsonl", pref.constraints, progress=False)
        prompts = read_records(out / "prompts.jsonl")
    prompts = prompts[: pref.limit]
    _fresh_pairs(out, {"pairs": json.loads(pairs_cfg.model_dump_json()), "limit": pref.limit,
                       "constraints": json.loads(pref.constraints.model_dump_json()) if pref.constraints else None,
                       "sft": ctx.outcomes["train"].fingerprint, "prompts": ctx.outcomes["curate"].fingerprint})
    judge = None
    if pairs_cfg.judge is not None and "judge" in pairs_cfg.routes:
        from seedtune.cache import RequestCache
        from seedtune.pipeline.pair_judge import open_pair_judge

        judge = open_pair_judge(pairs_cfg.judge, cache=RequestCache(pairs_cfg.teacher.cache), seed=pairs_cfg.seed)
    built = preferences(prompts, out / "pairs.jsonl", pairs_cfg, judge=judge, progress=False)
    ctx.log(f"[preference] {built['accepted']} pairs from {len(prompts)} prompts; dropped: {built['rejected_by_reason']}")
    if not built["accepted"]:
        raise SeedtuneError("no preference pairs were built, so there is nothing to train DPO on",
                            hint=f"see why in {out / 'pairs.rejected.jsonl'}; more prompts, a larger preference.pairs.n "
                                 "or a higher temperature give more pairs")
    section = pref.dpo.model_dump()
    section.update(method="dpo", model=sft, data=str(out / "pairs.jsonl"), output=str(out / "model"))
    result = train(TrainConfig.model_validate(section), log=ctx.log)
    keys = ("final_loss", "final_margin", "final_accuracy", "final_chosen_reward", "final_rejected_reward",
            "first_margin", "reference_drift", "steps", "train_seconds", "eval_accuracy", "eval_margin")
    pair_keys = ("accepted", "rejected", "rejected_by_reason", "pairs_by_how", "mean_margin_by_how",
                 "mean_length_chosen", "mean_length_rejected", "judge_check", "seconds")
    return {"model": str(result.output), "prompts": len(prompts), "pairs": {k: built.get(k) for k in pair_keys},
            "dpo": {k: result.metrics.get(k) for k in keys}}


def _fresh_pairs(out: Path, identity: dict[str, Any]) -> None:
    """Resume pairs.jsonl only if it was made from the same model, prompts and settings; otherwise
    start it over (it is this stage's own output, rebuilt from the cache where answers match)."""
    from seedtune.io import write_json

    marker = out / "pairs.identity.json"
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) != identity:
        for name in ("pairs.jsonl", "pairs.rejected.jsonl", "pairs.stats.json"):
            (out / name).unlink(missing_ok=True)
    write_json(marker, identity)


# -- 4. eval ---------------------------------------------------------------------------------------

def eval_config(ctx: RunContext, out: Path) -> Any:
    from seedtune.evaluate.config import EvalConfig

    cfg: PipelineConfig = ctx.config
    section = cfg.eval.model_dump()
    tuned = ctx.outcomes["train"].summary.get("model") or str(ctx.stage_dir("train") / "model")
    # With the preference stage: base, SFT and SFT+DPO, and DPO is also compared with SFT itself.
    dpo = [ctx.outcomes["preference"].summary["model"]] if "preference" in ctx.outcomes else []
    section["models"] = [cfg.train.model, tuned, *dpo, *cfg.eval.models]
    names = ["base", "tuned", *(["tuned+dpo"] if dpo else [])]
    section["labels"] = [*names, *cfg.eval.labels[len(names):]] if not cfg.eval.labels else cfg.eval.labels
    section["compare_previous"] = section.get("compare_previous") or bool(dpo)
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
        *([Stage("preference", "3b-preference", run_preference, dump(config.preference), depends=("curate", "train"),
                 inputs=lambda ctx: [] if config.preference.prompts == "kept" else [Path(config.preference.prompts)])]
          if config.preference else []),
        Stage("eval", "4-eval", run_eval, dump(config.eval), depends=("train", *(("preference",) if config.preference else ()))),
        Stage("report", "report", run_report, lambda ctx: {"version": 1},
              depends=("generate", "curate", "train", *(("preference",) if config.preference else ()), "eval")),
    ]

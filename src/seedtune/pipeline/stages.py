"""The four stages of `seedtune run` plus the report, each a thin call into its stage's API.

Read top to bottom, this file *is* the pipeline: seeds -> generate (pool.jsonl) -> curate
(kept.jsonl) -> train (model/) -> eval (scores.json) -> report (report.html) and lineage.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedtune.pipeline.config import PipelineConfig
from seedtune.pipeline.layout import seeds_path, sft_label, tuned_models
from seedtune.pipeline.runner import RunContext, Stage


# -- 1. generate -----------------------------------------------------------------------------------

def run_generate(ctx: RunContext, out: Path) -> dict[str, Any]:
    """Seeds + Self-Instruct (+ Evol-Instruct, + responses, + Magpie, + constraint data) -> pool.jsonl."""
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

TRAIN_SUMMARY = ("train_tokens", "tokens_per_second", "peak_rss_mb", "final_loss", "eval_loss", "steps", "seconds")


def train_config(ctx: RunContext, out: Path, data: Path | None = None, **changes: Any) -> Any:
    from seedtune.pipeline.config import PIPELINE_ONLY
    from seedtune.train.config import TrainConfig

    section = ctx.config.train.model_dump(exclude=set(PIPELINE_ONLY))
    section.update(data=str(data or ctx.stage_dir("curate") / "kept.jsonl"), output=str(out / "model"), **changes)
    return TrainConfig.model_validate(section)


# Keys that change how a run is logged or checkpointed, not the model it produces.
_BOOKKEEPING = {"output", "data", "resume", "save_every", "save_total_limit", "log_every", "tensorboard",
                "eval_every", "num_threads"}


def run_train(ctx: RunContext, out: Path) -> dict[str, Any]:
    """kept.jsonl -> a tuned model directory (adapter + merged weights + prompt format + lineage);
    with `train.variants`, one model per training-data variant (see pipeline/variants.py)."""
    if ctx.config.train.variants:
        from seedtune.formats import read_records
        from seedtune.pipeline.variants import train_variants

        kept = read_records(ctx.stage_dir("curate") / "kept.jsonl")
        return train_variants(ctx, out, kept, lambda o, d, **c: train_config(ctx, o, d, **c),
                              lambda cfg: _train_one(ctx, cfg))
    return _train_one(ctx, train_config(ctx, out))


def _train_one(ctx: RunContext, config: Any) -> dict[str, Any]:
    from seedtune.train import train

    result = train(config, log=ctx.log)
    rows = result.preflight.get("rows") or 0
    epochs = result.metrics["steps"] * result.metrics.get("global_batch_rows", 0) / rows if rows else None
    return {"model": str(result.output), **{k: result.metrics[k] for k in TRAIN_SUMMARY if k in result.metrics},
            "rows": rows, "epochs": round(epochs, 2) if epochs else None}


def adopt_train(ctx: RunContext, out: Path) -> dict[str, Any] | None:
    """A model trained outside the run (`accelerate launch ... seedtune.cli train`, the documented
    multi-GPU flow) into <run>/3-train/model counts as this stage's output when it was trained on
    this run's kept.jsonl with this run's train settings; `--from eval` then evaluates it."""
    from seedtune.errors import ConfigError

    model = out / "model"
    if not (model / "train_config.json").exists() or not (model / "metrics.json").exists():
        return None
    used = json.loads((model / "train_config.json").read_text(encoding="utf-8"))
    wanted = train_config(ctx, out).model_dump(mode="json")
    if Path(used.get("data", "")).resolve() != Path(wanted["data"]).resolve():
        raise ConfigError(f"{model} was trained on {used.get('data')}, not on this run's {wanted['data']}",
                          key="train.data", hint=f"retrain with data={wanted['data']}, or drop --from to train here")
    for key in sorted(set(wanted) - _BOOKKEEPING):
        if used.get(key) != wanted[key]:
            raise ConfigError(f"{model} was trained with {key}={used.get(key)!r} but the pipeline says {wanted[key]!r}",
                              key=f"train.{key}", hint=f"pass train.{key}={used.get(key)} to evaluate that model, or retrain it")
    metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
    return {"model": str(model), **{k: metrics[k] for k in TRAIN_SUMMARY if k in metrics}}


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
    sft = tuned_models(ctx)[sft_label(ctx)]
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
        from seedtune.generate.pair_judge import open_pair_judge

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
    tuned = tuned_models(ctx)
    # With the preference stage: base, SFT and SFT+DPO, and DPO is also compared with SFT itself.
    dpo = {"tuned+dpo": ctx.outcomes["preference"].summary["model"]} if "preference" in ctx.outcomes else {}
    section["models"] = [cfg.train.model, *tuned.values(), *dpo.values(), *cfg.eval.models]
    names = ["base", *tuned, *dpo]
    section["labels"] = [*names, *cfg.eval.labels[len(names):]] if not cfg.eval.labels else cfg.eval.labels
    if cfg.train.variants and not cfg.eval.compare:
        # What each data mix adds over the one declared before it (seeds-only -> +self-instruct -> all).
        variants = list(tuned)
        section["compare"] = [[a, b] for a, b in zip(variants, variants[1:])]
    if dpo and cfg.train.variants:  # what DPO added over the SFT variant it started from
        section["compare"] = [*section.get("compare", []), [sft_label(ctx), "tuned+dpo"]]
    elif dpo:  # base, SFT, SFT+DPO: each against the one before it too
        section["compare_previous"] = True
    section["output"] = str(out)
    section["train_data"] = [*cfg.eval.train_data, str(ctx.stage_dir("curate") / "kept.jsonl")]
    return EvalConfig.model_validate(section)


def run_eval(ctx: RunContext, out: Path) -> dict[str, Any]:
    """Base vs tuned on the held-out suite, in every configured mode."""
    from seedtune.evaluate import evaluate

    result = evaluate(eval_config(ctx, out))
    return {"predictions": len(result.predictions), "generated": result.generated, "cost": result.scores.cost.get("cost"),
            "extraction_failures": result.extraction_failures,
            "contaminated_tasks": sorted({t for hits in result.contamination.values() for t in hits})}


# -- 5. report -------------------------------------------------------------------------------------

def run_report(ctx: RunContext, out: Path) -> dict[str, Any]:
    from seedtune.pipeline.report import write_pipeline_report

    return write_pipeline_report(ctx, out)


# Keys whose values are not inputs: where results go, and the request cache (it changes on every run).
_NOT_INPUTS = frozenset({"cache", "output", "runs_dir", "name"})
# Keys whose value may be a folder worth hashing (a local model, a folder of SuperNI tasks).
_FOLDER_KEYS = frozenset({"model", "models", "suite", "against"})


def named_files(section: Any, key: str = "") -> list[Path]:
    """Every existing file (or model/suite folder) a config section names: seeds, suites, data,
    price tables. They are hashed by content into the stage's fingerprint, so editing one reruns
    the stage even though the YAML did not change."""
    if isinstance(section, dict):
        return [p for k, v in section.items() if k not in _NOT_INPUTS for p in named_files(v, k)]
    if isinstance(section, list):
        return [p for v in section for p in named_files(v, key)]
    if isinstance(section, str) and section:
        path = Path(section)
        if path.is_file() or (key in _FOLDER_KEYS and path.is_dir()):
            return [path]
    return []


def build_stages(config: PipelineConfig) -> list[Stage]:
    """The pipeline as data: names, folders, the config each stage fingerprints, its inputs."""
    dump = lambda section: (lambda ctx: json.loads(section.model_dump_json()))  # noqa: E731
    files = lambda section: (lambda ctx: named_files(json.loads(section.model_dump_json())))  # noqa: E731
    return [
        Stage("generate", "1-generate", run_generate,
              lambda ctx: {"seeds": config.seeds, **json.loads(config.generate.model_dump_json())},
              inputs=lambda ctx: [seeds_path(config), *named_files(json.loads(config.generate.model_dump_json()))]),
        Stage("curate", "2-curate", run_curate, dump(config.curate), inputs=files(config.curate), depends=("generate",)),
        Stage("train", "3-train", run_train, dump(config.train), inputs=files(config.train), depends=("curate",),
              adopt=adopt_train),
        *([Stage("preference", "3b-preference", run_preference, dump(config.preference), depends=("curate", "train"),
                 inputs=lambda ctx: [*named_files(json.loads(config.preference.model_dump_json())),
                                     *([] if config.preference.prompts == "kept" else [Path(config.preference.prompts)])])]
          if config.preference else []),
        Stage("eval", "4-eval", run_eval, dump(config.eval), inputs=files(config.eval),
              depends=("train", *(("preference",) if config.preference else ()))),
        Stage("report", "report", run_report, lambda ctx: {"version": 1},
              depends=("generate", "curate", "train", *(("preference",) if config.preference else ()), "eval")),
    ]

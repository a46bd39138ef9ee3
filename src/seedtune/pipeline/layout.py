"""Where a run's inputs and models are: the seeds file the run starts from and the trained
model(s) each later stage reads. The stages (`stages.py`) and the run report (`report.py`) both
ask these questions, so the answers live here, below both."""

from __future__ import annotations

from pathlib import Path

from seedtune.pipeline.config import PipelineConfig
from seedtune.pipeline.runner import RunContext


def seeds_path(config: PipelineConfig) -> Path:
    """The seed-task file: `seeds` names a file, or the shipped seed tasks."""
    if config.seeds == "seeds":
        from seedtune.data import seed_tasks_path

        return Path(seed_tasks_path())
    return Path(config.seeds)


def tuned_models(ctx: RunContext) -> dict[str, str]:
    """Label -> trained model directory: 'tuned', or one per training-data variant."""
    summary = ctx.outcomes["train"].summary
    if "variants" in summary:  # in the order the YAML declares them (the comparisons follow it)
        variants = summary["variants"]
        return {name: variants[name]["model"] for name in ctx.config.train.variants if name in variants}
    return {"tuned": summary.get("model") or str(ctx.stage_dir("train") / "model")}


def sft_label(ctx: RunContext) -> str:
    """The SFT model later steps build on (DPO, the lineage's `model`): the variant trained on the
    most data (the one that set the budget), or the only one."""
    return ctx.outcomes["train"].summary.get("budget_variant") or next(iter(tuned_models(ctx)))

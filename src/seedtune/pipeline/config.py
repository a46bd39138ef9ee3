"""The pipeline config: one YAML describes seeds -> generate -> curate -> train -> eval -> report.

Each section is the stage's own config model, so a pipeline YAML accepts exactly the keys the
stage commands accept. The pipeline fills in what it wires itself (train.data, train.output,
eval.models, eval.output), so those may be left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from seedtune.config import StrictModel, apply_overrides, load_yaml, validate
from seedtune.curate.config import CurateConfig
from seedtune.evaluate.config import EvalConfig
from seedtune.generate.evol_instruct import EvolConfig
from seedtune.generate.magpie import MagpieConfig
from seedtune.generate.respond import RespondConfig
from seedtune.generate.self_instruct import SelfInstructConfig
from seedtune.train.config import TrainConfig


class GenerateSection(StrictModel):
    """Which generation methods run, in order: self-instruct on the seeds, then evol on its output,
    then respond to every instruction still without an answer, then Magpie conversations. Leave a
    method out to skip it."""

    include_seeds: bool = Field(True, description="Put the seed tasks themselves into the training pool.")
    self_instruct: SelfInstructConfig | None = Field(None, description="Self-Instruct settings; null skips it.")
    evol: EvolConfig | None = Field(None, description="Evol-Instruct settings (evolves the self-instruct output, or the seeds); null skips it.")
    respond: RespondConfig | None = Field(None, description="Answer instructions that have no output yet; null skips it.")
    magpie: MagpieConfig | None = Field(None, description="Magpie: the teacher writes requests from its chat template's user-turn prefix and answers them; null skips it.")


class PipelineTrain(TrainConfig):
    """The train section; `data` and `output` are wired by the pipeline."""

    data: str = Field("", description="Set by the pipeline: the curated kept.jsonl.")
    output: str = Field("", description="Set by the pipeline: <run>/3-train/model.")


class PipelineEval(EvalConfig):
    """The eval section; by default compares the base model (A) with the tuned one (B)."""

    models: list[str] = Field(default_factory=list, description="Extra models to compare; the base and the tuned model are always first.")
    output: str = Field("", description="Set by the pipeline: <run>/4-eval.")


class PipelineConfig(StrictModel):
    """A whole run: `seedtune run pipeline.yaml` executes it in `runs/<name>/`."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9._-]+$", description="Run name; the run folder is <runs_dir>/<name>.")
    runs_dir: str = Field("runs", description="Folder that holds run folders (relative to the current directory).")
    seeds: str = Field("seeds", description="Seed tasks: 'seeds' for seedtune's own, or a file in any supported format.")
    generate: GenerateSection = Field(default_factory=GenerateSection, description="Data generation.")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Filters and deduplication.")
    train: PipelineTrain = Field(..., description="Supervised fine-tuning of the base model.")
    eval: PipelineEval = Field(default_factory=PipelineEval, description="Base vs tuned on unseen tasks.")

    @model_validator(mode="after")
    def _wire(self) -> "PipelineConfig":
        if not self.generate.include_seeds and not (self.generate.self_instruct or self.generate.evol
                                                                 or self.generate.magpie):
            from seedtune.errors import ConfigError

            raise ConfigError("the pipeline would have no training data", key="generate.include_seeds",
                              hint="set include_seeds: true or configure generate.self_instruct")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name


def load_pipeline(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
                  data: dict[str, Any] | None = None) -> PipelineConfig:
    """Load a pipeline YAML (or a dict), apply `key=value` overrides, validate every section."""
    raw = dict(data) if data is not None else load_yaml(path)  # type: ignore[arg-type]
    apply_overrides(raw, overrides)
    return validate(PipelineConfig, raw, source=str(path) if path else None)

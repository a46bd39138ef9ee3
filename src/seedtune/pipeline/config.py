"""The pipeline config: one YAML describes seeds -> generate -> curate -> train -> eval -> report.

Each section is the stage's own config model, so a pipeline YAML accepts exactly the keys the
stage commands accept. The pipeline fills in what it wires itself (train.data, train.output,
eval.models, eval.output), so those may be left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from seedtune.config import StrictModel, apply_overrides, load_yaml, validate
from seedtune.errors import ConfigError
from seedtune.curate.config import CurateConfig
from seedtune.evaluate.config import EvalConfig
from seedtune.generate.constraints import ConstraintsConfig
from seedtune.generate.evol_instruct import EvolConfig
from seedtune.generate.magpie import MagpieConfig
from seedtune.generate.preferences import PreferencesConfig
from seedtune.generate.respond import RespondConfig
from seedtune.generate.self_instruct import SelfInstructConfig
from seedtune.records import known_sources, resolve_source
from seedtune.train.config import TrainConfig


class PipelineConstraints(ConstraintsConfig):
    """Constraint data added to the run's answered records; only training families, so the
    held-out families stay unseen and the report can measure generalisation to them."""

    source: Literal["seeds", "pool"] = Field("seeds", description="Which answered records get constraints: the seed tasks (hand-written answers) or the whole pool.")

    @model_validator(mode="after")
    def _training_only(self) -> "PipelineConstraints":
        from seedtune.verifiable import TRAINING_FAMILIES

        held = [f for f in self.families if f not in TRAINING_FAMILIES]
        if held:
            from seedtune.errors import ConfigError

            raise ConfigError(f"families {held} are held out for evaluation", key="generate.constraints.families",
                              hint=f"use training families only: {', '.join(TRAINING_FAMILIES)}")
        return self


class GenerateSection(StrictModel):
    """Which generation methods run, in order: self-instruct on the seeds, then evol on its output,
    then respond to every instruction still without an answer, then Magpie conversations. Leave a
    method out to skip it."""

    include_seeds: bool = Field(True, description="Put the seed tasks themselves into the training pool.")
    self_instruct: SelfInstructConfig | None = Field(None, description="Self-Instruct settings; null skips it.")
    evol: EvolConfig | None = Field(None, validation_alias=AliasChoices("evol", "evol_instruct", "evol-instruct"),
                                    description="Evol-Instruct settings (evolves the self-instruct output, or the seeds); null skips it.")
    respond: RespondConfig | None = Field(None, description="Answer instructions that have no output yet; null skips it.")
    magpie: MagpieConfig | None = Field(None, description="Magpie: the teacher writes requests from its chat template's user-turn prefix and answers them; null skips it.")
    constraints: PipelineConstraints | None = Field(None, description="Verifiable-constraint data built from answered records (training families only); null skips it.")


ALL_SOURCES = "all"
PIPELINE_ONLY = ("variants", "variant_budget")  # train-section keys the train stage itself does not take


class PipelineTrain(TrainConfig):
    """The train section; `data` and `output` are wired by the pipeline.

    `variants` turns the run into an ablation: each variant is a model trained, with this same
    recipe, on the curated records of the sources it names, and evaluated beside the others."""

    data: str = Field("", description="Set by the pipeline: the curated kept.jsonl.")
    output: str = Field("", description="Set by the pipeline: <run>/3-train/model.")
    variants: dict[str, list[str]] = Field(default_factory=dict, description="Training-data variants, name -> sources (Record.source values or aliases: seeds, self_instruct, evol, respond, ...; 'all' is every record), e.g. {seeds-only: [seeds], all: [all]}. Empty: one model on all curated records.")
    variant_budget: Literal["steps", "epochs"] = Field("steps", description="steps: every variant takes the optimizer steps of the variant with the most records (same rows and, packed, about the same tokens: smaller data gets more epochs); epochs: every variant runs `epochs` passes over its own data.")

    @model_validator(mode="after")
    def _variants(self) -> "PipelineTrain":
        for name, sources in self.variants.items():
            key = f"train.variants.{name}"
            if not re.fullmatch(r"[A-Za-z0-9._+-]+", name) or name == "base":
                raise ConfigError(f"variant name {name!r} is not usable", key=key,
                                  hint="use letters, digits and . _ + - (and not 'base', the untuned model's label)")
            if not sources:
                raise ConfigError("a variant needs at least one source", key=key, hint="e.g. [seeds] or [all]")
            for source in sources:
                if source != ALL_SOURCES and resolve_source(source) is None:
                    raise ConfigError(f"{source!r} is not a record source", key=key,
                                      hint=f"use one of: {', '.join(known_sources())}, {ALL_SOURCES} "
                                           "(aliases: seeds, self_instruct, evol, respond)")
        return self

    def variant_sources(self) -> dict[str, list[str] | None]:
        """Each variant's sources as `Record.source` values; None means every record."""
        return {name: None if ALL_SOURCES in sources else sorted({resolve_source(s) for s in sources})  # type: ignore[misc]
                for name, sources in self.variants.items()}


class PipelineDPO(TrainConfig):
    """The DPO run of the preference stage; `model`, `data` and `output` are wired by the pipeline."""

    method: Literal["dpo"] = Field("dpo", description="Always dpo here.")
    model: str = Field("", description="Set by the pipeline: the SFT model.")
    data: str = Field("", description="Set by the pipeline: <run>/3b-preference/pairs.jsonl.")
    output: str = Field("", description="Set by the pipeline: <run>/3b-preference/model.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate (DPO moves a tuned model: smaller than SFT's).")


class PreferenceSection(StrictModel):
    """Optional stage after SFT: sample answers from the SFT model, build pairs, train DPO on them."""

    prompts: str = Field("kept", description="Prompts for the pairs: 'kept' (the curated SFT data; constrained records are scored by checkers, answered ones by reference) or a record file.")
    limit: int | None = Field(None, ge=1, description="At most this many prompts (the first ones).")
    on_policy: bool = Field(True, description="Sample the answers from the SFT model (true) or from pairs.teacher (false).")
    constraints: ConstraintsConfig | None = Field(None, description="First add fresh verifiable constraints (a new draw; default: training families) to the answered prompts that have none, so the checkers can score the answers offline; null: use the prompts as they are.")
    pairs: PreferencesConfig = Field(default_factory=PreferencesConfig, description="Sampling and scoring of the pairs.")
    dpo: PipelineDPO = Field(default_factory=PipelineDPO, description="DPO training on the pairs (LoRA on the SFT model by default).")


class PipelineEval(EvalConfig):
    """The eval section; by default compares the base model (A) with the tuned one, or with each
    training-data variant, and each variant with the one declared before it."""

    models: list[str] = Field(default_factory=list, description="Extra models to compare; the base and the tuned model(s) are always first.")
    output: str = Field("", description="Set by the pipeline: <run>/4-eval.")


class PipelineConfig(StrictModel):
    """A whole run: `seedtune run pipeline.yaml` executes it in `runs/<name>/`."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9._-]+$", description="Run name; the run folder is <runs_dir>/<name>.")
    runs_dir: str = Field("runs", description="Folder that holds run folders (relative to the current directory).")
    seeds: str = Field("seeds", description="Seed tasks: 'seeds' for seedtune's own, or a file in any supported format.")
    generate: GenerateSection = Field(default_factory=GenerateSection, description="Data generation.")
    curate: CurateConfig = Field(default_factory=CurateConfig, description="Filters and deduplication.")
    train: PipelineTrain = Field(..., description="Supervised fine-tuning of the base model.")
    preference: PreferenceSection | None = Field(None, description="SFT -> preference pairs -> DPO; null skips it.")
    eval: PipelineEval = Field(default_factory=PipelineEval, description="Base vs tuned on unseen tasks.")

    @model_validator(mode="after")
    def _wire(self) -> "PipelineConfig":
        if not self.generate.include_seeds and not (self.generate.self_instruct or self.generate.evol
                                                    or self.generate.magpie):
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

"""The eval stage's config: one pydantic model, a description on every field (they become --help)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from seedtune.config import StrictModel


class EvalConfig(StrictModel):
    """Evaluate one or more models on a suite, in every mode, on the same instances.

    Models: the first one is the baseline (A); every later model is compared against it (B - A).
    """

    models: list[str] = Field(..., min_length=1, description="Models to evaluate: directories, embedded names, hf:NAME, openai:MODEL or vllm:NAME. The first is the baseline.")
    labels: list[str] = Field(default_factory=list, description="Display names, one per model (default: directory names).")
    compare: list[tuple[str, str]] = Field(default_factory=list, description="Further paired comparisons besides each model against the first, as [A, B] label pairs (B - A), e.g. [[seeds-only, all]].")
    suite: str | None = Field(None, description="One suite; the same as suites: [SUITE] (kept for older configs). Set to the first of `suites` after validation.")
    suites: list[str] = Field(default_factory=list, description="Suites to evaluate on, on the same models (default [heldout]): at most one scored against references ('heldout', or a suite file: Self-Instruct JSONL, SuperNI task JSON or a folder of them, any record file) plus any verifiable-instruction suites ('heldout-if', 'ifeval:PATH' for IFEval's input_data.jsonl layout).")
    on_error: Literal["raise", "skip"] = Field("raise", description="A bad line in an IFEval file: 'raise' stops with its file, line and field; 'skip' leaves it out and counts it in scores.json.")
    if_prompts: int | None = Field(None, ge=1, description="At most this many prompts per verifiable-instruction suite, balanced over language and seen/held-out families (the same prompts for every model).")
    if_max_new_tokens: int = Field(256, ge=1, description="Answer length limit on verifiable-instruction suites (constraint answers are paragraphs, lists, JSON).")
    modes: list[str] = Field(default_factory=lambda: ["zero"], description="Conditions: zero, few:K (K demonstrations), cot (zero-shot chain of thought).")
    limit: int | None = Field(None, ge=1, description="At most this many instances per task (the same ones for every model and mode).")
    output: str = Field(..., description="Directory for predictions.jsonl, scores.json, report.md and report.html.")
    demos: Literal["random", "first", "nearest"] = Field("random", description="How few-shot demonstrations are chosen: fixed-seed random, the first k, or nearest by sentence-embedding similarity.")
    seed: int = Field(0, description="Seed for demonstration choice and bootstrap resampling.")
    prompt_format: Literal["auto", "saved", "alpaca", "chat"] = Field("auto", description="auto: the model's saved prompt format, else its chat template, else Alpaca (base models).")
    max_new_tokens: int = Field(128, ge=1, description="Answer length limit in zero-shot and few-shot modes.")
    cot_max_new_tokens: int = Field(384, ge=1, description="Answer length limit in chain-of-thought mode (the reasoning needs room).")
    # 32, by measurement (Gemma-3-270m, greedy, shortlist head): batch 8 59.5 tok/s, 16 100.9, 48
    # 139.4 on 48 prompts (quiet); on 96 prompts (lightly loaded) 32, 48 and 64 were within noise
    # (119-134), when batches were static. Batches are continuous now (teachers/continuous.py): a
    # finished answer's place goes to the next prompt, so no row waits for a batch's longest answer.
    batch_size: int = Field(32, ge=1, description="Generation batch size for local models (answers in flight at once).")
    chunk_size: int = Field(256, ge=1, description="Requests per generation call: large enough to batch well, small enough that an interrupted run keeps most answers in the cache.")
    dtype: str | None = Field(None, description="Weights dtype for local models (float32, bfloat16); default: the loader's choice.")
    # hf by default, by measurement: on the quickstart's eval (Gemma-3-270m, long prompts, short
    # answers, a 262k vocabulary) llama.cpp was 1.26x in isolation but the stage took 295 s against
    # 215 s on transformers once each tuned model is merged and converted to GGUF.
    engine: Literal["auto", "hf", "llamacpp"] = Field("hf", description="What runs local models: hf (transformers), llamacpp, or auto (llama.cpp when llama-cpp-python is installed and the model has a GGUF writer, else transformers). scores.json names the one used per model.")
    base_url: str | None = Field(None, description="Base URL for openai: models (an OpenAI-compatible server).")
    judge: str | None = Field(None, description="Teacher that judges answers (hf:NAME, openai:MODEL ...); no judge when unset.")
    judge_modes: list[Literal["single", "pairwise"]] = Field(default_factory=lambda: ["single", "pairwise"], description="single: a 1-10 score per answer; pairwise: B vs A in both orders (needs two models).")
    judge_max_tokens: int = Field(384, ge=1, description="Length limit of a judge's reply (generate verdicts).")
    judge_verdict: Literal["auto", "generate", "logprobs"] = Field("auto", description="generate: the judge explains, then writes its verdict, which is parsed; logprobs: the judge answers with one letter or digit and its probabilities are read (every reply gives a verdict); auto: logprobs for hf: and vllm: judges, generate for openai:.")
    judge_check: int = Field(40, ge=0, description="Pairs with a known answer (reference vs a wrong answer) the judge is tested on first; its accuracy is reported next to its verdicts. 0: no check.")
    judge_if_unreliable: bool = Field(False, description="Ask the judge for verdicts even when it failed its check on known pairs (they are then reported as not evidence); by default a failed check skips the verdicts.")
    judge_dtype: str | None = Field(None, description="Weights dtype for a local judge (float32, bfloat16).")
    train_data: list[str] = Field(default_factory=list, description="Training data files to check suite tasks against for contamination (besides each model's lineage.json).")
    cache: str | None = Field(None, description="Request cache file (SQLite); default: the shared cache in $SEEDTUNE_CACHE.")
    no_cache: bool = Field(False, description="Do not read or write the request cache.")
    prices: str | dict[str, dict[str, float]] | None = Field(None, description="Price table {model: {input: $/1M, output: $/1M}} (inline or a YAML file) for the cost of openai: models and judges.")
    max_cost: float | None = Field(None, gt=0, description="Hard budget for this evaluation's openai: requests (models and judge): a request that could cross it is not sent, and the run stops with what it spent.")
    compare_previous: bool = Field(False, description="Also compare each model with the one listed before it (e.g. SFT+DPO vs SFT), not only with the first.")
    bootstrap_samples: int = Field(1000, ge=100, description="Resamples for the paired bootstrap confidence intervals.")
    examples: int = Field(6, ge=0, description="Side-by-side examples in the report.")

    @model_validator(mode="before")
    @classmethod
    def _one_or_many_suites(cls, data: object) -> object:
        """`suite: X` is `suites: [X]`; afterwards `suite` is always the first of `suites`."""
        if not isinstance(data, dict):
            return data
        suite, suites = data.get("suite"), data.get("suites")
        if isinstance(suites, str):
            suites = [p.strip() for p in suites.split(",") if p.strip()]
        if suite and suites and suite != suites[0]:
            from seedtune.errors import ConfigError

            raise ConfigError(f"suite {suite!r} and suites {suites} disagree", key="suite",
                              hint="give only `suites` (a list), or only `suite`")
        suites = suites or [suite or "heldout"]
        return {**data, "suites": suites, "suite": suites[0]}

    @field_validator("modes", mode="before")
    @classmethod
    def _split_modes(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

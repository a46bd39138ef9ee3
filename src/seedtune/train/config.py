"""The `train` config section: every knob of a supervised fine-tuning run, with help on each.

The CLI flags (`--lora-r`, `--full`, `--batch-size`, ...) and YAML keys fill this same model, so
a run is fully described by its resolved config, which is written beside the trained model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seedtune.config import StrictModel
from seedtune.errors import ConfigError


class TrainConfig(StrictModel):
    """Supervised fine-tuning: data -> labels -> packed rows -> LoRA/full training -> model dir.

    Groups: what to train (model, data, output), how to build rows (prompt_format, max_length,
    truncation, packing), the adapter (lora_*, full, qlora), the schedule (batch_size,
    grad_accum, max_steps/epochs, learning_rate, ...), and bookkeeping (save/eval/log/resume).
    """

    # what
    method: Literal["sft", "dpo"] = Field(
        "sft", description="sft: supervised fine-tuning on records; dpo: preference optimisation on pairs (data = a pair file, model = usually the SFT model).")
    model: str = Field(..., description="Base model: an embedded default name (e.g. gemma-3-270m) or a local HF directory.")
    data: str = Field(..., description="Training records (any format seedtune.formats reads: JSONL, Alpaca JSON, ...).")
    output: str = Field(..., description="Directory for the trained model, adapter, metrics and lineage.")
    # rows
    prompt_format: Literal["auto", "alpaca", "chat"] = Field(
        "auto", description="How records become prompts: the model's chat template when it has one (auto), or Alpaca sections.")
    max_length: int = Field(512, ge=8, description="Longest training sequence in tokens (prompt + output + EOS).")
    truncation: Literal["drop", "truncate-prompt-left"] = Field(
        "drop", description="Rows longer than max_length: drop them, or cut tokens from the start of the prompt (never the output).")
    all_turns: bool = Field(True, description="Conversations: train on every assistant turn (user and system turns never); false trains only the last answer.")
    packing: bool = Field(True, description="Pack several samples per row (best-fit decreasing) with per-sample positions and no cross-sample attention.")
    self_check: bool = Field(True, description="Before step 1, verify packed logits equal unpacked logits and refuse to train if not.")
    # adapter
    full: bool = Field(False, description="Full fine-tuning of every weight instead of a LoRA adapter.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: float | None = Field(None, description="LoRA alpha (scaling = alpha / r); default 2 x r.")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input path.")
    lora_targets: list[str] | str = Field("all-linear", description="Modules to adapt: 'all-linear' (every linear layer but the LM head) or a list of names.")
    qlora: bool = Field(False, description="Load the frozen base in 4-bit (bitsandbytes, CUDA only) and train a LoRA adapter on it.")
    # schedule
    batch_size: int = Field(8, ge=1, description="Rows per micro-batch per process (packed rows when packing, samples otherwise).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches accumulated per optimizer step.")
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps to run; overrides epochs when set.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training rows (used when max_steps is not set).")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (2e-4 suits LoRA; use ~2e-5 for full fine-tuning).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of steps with linear warm-up.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name: linear, cosine, constant, constant_with_warmup, ...")
    max_grad_norm: float | None = Field(1.0, description="Gradient clipping norm; null disables clipping.")
    seed: int = Field(0, description="Seed for initialisation, data order and dropout.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="bf16 autocast when the device supports it (auto), always, or plain fp32.")
    loss_chunk_size: int | None = Field(None, ge=16, description="Trained positions per LM-head chunk in the loss (bounds logits memory); default: ~256 MB of fp32 logits per chunk.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    speedups: bool = Field(True, description="Segment attention for packed rows, fused LoRA matmuls, fused norm/MLP-activation/rotary functions and fused AdamW (same loss up to rounding); false runs plain transformers/peft, for comparison.")
    # preference optimisation (method: dpo)
    beta: float = Field(0.1, gt=0, description="DPO/IPO: strength of the pull towards the reference model (smaller lets the policy move further); SimPO: reward scale.")
    dpo_loss: Literal["sigmoid", "ipo", "simpo"] = Field(
        "sigmoid", description="sigmoid: DPO (Rafailov et al. 2023); ipo: squared loss on length-averaged log-ratios (Azar et al. 2023); simpo: reference-free, length-averaged, with a target margin (Meng et al. 2024).")
    simpo_gamma: float = Field(0.5, ge=0, description="SimPO target reward margin gamma.")
    # bookkeeping
    eval_fraction: float = Field(0.05, ge=0, lt=1, description="Share of records held out for eval loss (0 disables; none when < 20 records).")
    eval_every: int = Field(0, ge=0, description="Compute eval loss every N steps (0: only at the end).")
    save_every: int = Field(0, ge=0, description="Write a resumable checkpoint every N steps (0: none).")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (oldest deleted first).")
    resume: bool | str = Field(False, description="Resume from the latest checkpoint in output (true) or from this checkpoint directory.")
    log_every: int = Field(1, ge=1, description="Log loss/tokens-per-second to TensorBoard every N steps.")
    tensorboard: bool = Field(True, description="Write TensorBoard logs under output/logs.")
    merge: bool = Field(True, description="Also save merged full weights (loads with plain from_pretrained); the adapter is always saved.")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice).")

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        if self.full and self.qlora:
            raise ConfigError("can't combine full fine-tuning with QLoRA", key="full",
                              hint="choose one: drop --full, or set qlora=false")
        return self

    @property
    def alpha(self) -> float:
        return self.lora_alpha if self.lora_alpha is not None else 2.0 * self.lora_r

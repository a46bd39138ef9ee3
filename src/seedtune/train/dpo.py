"""Preference optimisation (DPO, IPO, SimPO), top to bottom: load -> pairs -> check -> reference ->
train -> save. The same engine as `sft.py`: model loading, LoRA/full setup, prompt format, label
building and its pre-flight checks, accelerate, checkpoints and the saved model directory.

The reference model is the policy before training: with LoRA, the same weights with the adapter
disabled (no second copy in memory); with full fine-tuning, a frozen copy. Its answer log-probs
are computed once, before step 1 (they never change), which saves a forward pass per step; at the
end they are recomputed for a few pairs and must be unchanged, so a reference that moved is a
failed run, not a silent one.
"""

from __future__ import annotations

import copy
import resource
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from seedtune.errors import SeedtuneError
from seedtune.train import checkpoint, fused, speed
from seedtune.train.config import TrainConfig
from seedtune.train.data import lineage, split_eval
from seedtune.train.modeling import SequenceLogProbs, causal_lm_of
from seedtune.train.packing import Row, collate
from seedtune.train.preference import PairData, answer_tokens, prepare_pairs, preference_loss
from seedtune.train.sft import (TrainResult, _DataOrder, _orig_dtype, _progress, _tensorboard, begin, resume,
                                schedule, setup_model)

CURVES = ("chosen_reward", "rejected_reward", "margin", "accuracy")


def train_dpo(config: TrainConfig, log: Callable[[str], None] | None = None, progress: bool = True) -> TrainResult:
    """Optimise `config.model` (usually an SFT model) on the pairs in `config.data`."""
    from seedtune.formats.pairs import read_required_pairs

    # 1. load ------------------------------------------------------------------------------
    run = begin(config, log)
    accelerator, main, say, use_bf16 = run.accelerator, run.main, run.say, run.use_bf16
    if run.kind != "none":  # the frozen reference and the paired log-probs are not sharded yet
        raise SeedtuneError(f"DPO runs on one process or data-parallel (DDP), not under {run.kind} sharding",
                            hint="launch it with a DDP config (examples/accelerate/ddp_cpu.yaml, or multi-GPU without FSDP/DeepSpeed)")
    model, tokenizer, resolved, fmt, out = run.model, run.tokenizer, run.resolved, run.fmt, Path(config.output)
    pairs = read_required_pairs(config.data)

    # 2-3. tokenize + check (SFT's label building, both answers of every pair) ---------------
    data, held, preflight = _prepare(config, pairs, fmt, tokenizer, say)

    # 4. model setup and the reference --------------------------------------------------------
    model = setup_model(model, config)
    needs_copy = config.full and config.dpo_loss != "simpo"
    frozen = copy.deepcopy(model).requires_grad_(False).eval() if needs_copy else None
    module = SequenceLogProbs(model, chunk=config.loss_chunk_size).to(accelerator.device)
    reference = None if config.dpo_loss == "simpo" else _Reference(module, frozen, accelerator.device)
    n_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    autocast = torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=use_bf16)
    pad_id = tokenizer.pad_token_id
    ref = reference.logps(data, config.batch_size, pad_id, autocast, accelerator) if reference else None
    ref_eval = reference.logps(held, config.batch_size, pad_id, autocast, accelerator) if (reference and held) else None
    say(f"trainable parameters: {n_trainable:,} ({'full' if config.full else f'LoRA r={config.lora_r}'}); "
        f"loss: {config.dpo_loss}, beta {config.beta}; reference: "
        + ("none (SimPO)" if reference is None else "frozen copy" if frozen is not None else "the adapter disabled"))

    # 5. optimizer, schedule, accelerate ---------------------------------------------------
    world = accelerator.num_processes
    per_step, total_steps, opt = schedule(config, module, len(data), accelerator, run.kind)
    wrapped, optimizer, scheduler, trainable = opt.wrapped, opt.optimizer, opt.scheduler, opt.trainable
    ckpt_dir = out / "checkpoints"
    state: dict[str, Any] = {"elapsed": 0.0, "train_tokens": 0, "losses": [], **{k: [] for k in CURVES}}
    start = resume(config, ckpt_dir, module.model, optimizer, scheduler, accelerator, say, state)
    writer = _tensorboard(out / "logs") if (config.tensorboard and main) else None

    # 6. train -----------------------------------------------------------------------------
    order = _DataOrder(len(data), config.seed)
    bar = _progress(total_steps, start, enabled=progress and main)
    wrapped.train()
    t0 = time.perf_counter() - state["elapsed"]
    for step in range(start, total_steps):
        picks = order.take(step * per_step, per_step)
        mine = picks[accelerator.process_index * config.batch_size * config.grad_accum:][: config.batch_size * config.grad_accum]
        stats = _step(wrapped, data, ref, mine, config, per_step, pad_id, autocast, accelerator)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        _record(state, stats, world * sum(len(data.chosen[i]) + len(data.rejected[i]) for i in mine))
        tps = state["train_tokens"] / max(time.perf_counter() - t0, 1e-9)
        if writer and (step + 1) % config.log_every == 0:
            for k, v in stats.items():
                writer.add_scalar(f"train/{k}", v, step + 1)
        if bar:
            bar.update(step + 1, stats["loss"], tps)
        if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < total_steps:
            saved = {"elapsed": time.perf_counter() - t0, **{k: state[k] for k in ("train_tokens", "losses", *CURVES)}}
            checkpoint.save_on_every_rank(ckpt_dir, step + 1, module.model, optimizer, scheduler, saved, accelerator,
                                          keep=config.save_total_limit)
    elapsed = time.perf_counter() - t0
    if bar:
        bar.close()
    if writer:
        writer.close()

    # 7. check the reference, evaluate held-out pairs, save ----------------------------------
    drift = _check_drift(reference.drift(data, ref, config.batch_size, pad_id, autocast, accelerator)) if reference else None
    held_stats = _evaluate(wrapped, held, ref_eval, config, pad_id, autocast, accelerator) if held and len(held) else None
    metrics = _metrics(state, config, total_steps, elapsed, n_trainable, world, per_step, drift, held_stats)
    accelerator.wait_for_everyone()
    if main:
        _save(out, module.model, tokenizer, fmt, config, data, pairs, resolved, metrics, preflight, state, say)
    accelerator.wait_for_everyone()
    return TrainResult(output=out, metrics=metrics, preflight=preflight, losses=state["losses"])


def _prepare(config: TrainConfig, pairs: list[Any], fmt: Any, tokenizer: Any,
             say: Callable[[str], None]) -> tuple[PairData, PairData | None, dict[str, Any]]:
    """Pairs -> SFT-built examples for both answers (train and held-out), checked before step 1."""
    train_pairs, eval_pairs = split_eval(pairs, config.eval_fraction, config.seed)
    data = prepare_pairs(train_pairs, fmt, tokenizer, config.max_length, config.truncation)
    held = prepare_pairs(eval_pairs, fmt, tokenizer, config.max_length, config.truncation) if eval_pairs else None
    preflight = {**data.preflight, "prompt_format": fmt.type, "eval_pairs": len(held) if held else 0}
    say(f"pre-flight: {len(pairs)} pairs -> {len(data)} train, {preflight['eval_pairs']} eval "
        f"({data.preflight['dropped']} dropped: an answer too long or empty); prompt never trained: "
        f"{_ok(data.preflight['prompt_never_trained'])} | end token trained: {_ok(data.preflight['end_token_trained'])} | "
        f"prompt is a token prefix: {_ok(data.preflight['prompt_is_prefix'])}")
    if data.failures:
        raise SeedtuneError("pre-flight label checks failed: " + "; ".join(data.failures[:3]),
                            hint="this is a bug in label building or a broken tokenizer; please report it with the model name")
    if not len(data):
        raise SeedtuneError("no pairs left after the length policy",
                            hint=f"raise --max-length (now {config.max_length}) or use truncation=truncate-prompt-left")
    if data.preflight["identical_answers"]:
        say(f"warning: {data.preflight['identical_answers']} pair(s) have the same chosen and rejected answer; they teach nothing")
    return data, held, preflight


def _save(out: Path, model: Any, tokenizer: Any, fmt: Any, config: TrainConfig, data: PairData, pairs: list[Any],
          resolved: Path, metrics: dict[str, Any], preflight: dict[str, Any], state: dict[str, Any],
          say: Callable[[str], None]) -> None:
    """The model directory, as SFT writes it, with the pairs' provenance and DPO's reward curves."""
    from seedtune.train.save import save_outputs

    origin = lineage(config.data, [], config.model, str(resolved))
    origin.update(method="dpo", data_kind="pairs", pairs=len(pairs), records=len(pairs),
                  how=_counts(p.how for p in pairs), teachers=_counts(p.teacher for p in pairs),
                  languages=_counts(p.lang for p in pairs), sources=_counts(p.source for p in pairs))
    speed.use_segment_attention(causal_lm_of(model), False)  # the saved model: plain SDPA
    fused.use_fused_layers(causal_lm_of(model), False)
    save_outputs(out, model, tokenizer, fmt, config, data.end_id, origin, metrics, preflight,
                 state["losses"], merge=config.merge, full=config.full, base_dtype=_orig_dtype(resolved),
                 base_path=resolved, curves={k: state[k] for k in CURVES})
    say(f"saved to {out}: final loss {metrics['final_loss']:.4f}, reward margin {metrics['final_margin']:+.3f}, "
        f"accuracy {metrics['final_accuracy']:.2f}")


def _record(state: dict[str, Any], stats: dict[str, float], tokens: int) -> None:
    state["losses"].append(stats["loss"])
    for k in CURVES:
        state[k].append(stats[k])
    state["train_tokens"] += tokens


def _check_drift(drift: float) -> float:
    """The reference's log-probs, recomputed after training, must not have moved."""
    if drift > 1e-3:
        raise SeedtuneError(f"the reference model changed during training (log-probs moved by {drift:.2e})",
                            hint="this is a bug: the reference must be frozen; please report it with your config")
    return drift


# --- helpers used above, in the order they appear ---------------------------------------------

def _ok(flag: bool) -> str:
    return "ok" if flag else "FAILED"


class _Reference:
    """The model the policy is measured against: a frozen copy, or the policy with LoRA off."""

    def __init__(self, module: SequenceLogProbs, frozen: Any, device: torch.device):
        self.module = module
        self.frozen = SequenceLogProbs(frozen, chunk=module.chunk).to(device) if frozen is not None else None

    @contextmanager
    def _active(self) -> Iterator[SequenceLogProbs]:
        if self.frozen is not None:
            yield self.frozen
            return
        was = self.module.training
        self.module.eval()  # no adapter dropout in the reference
        try:
            with self.module.model.disable_adapter():
                yield self.module
        finally:
            self.module.train(was)

    @torch.no_grad()
    def logps(self, data: PairData, batch: int, pad_id: int, autocast: Any, accelerator: Any,
              limit: int | None = None) -> torch.Tensor:
        """[N, 2] summed answer log-probs (chosen, rejected) of every pair, split over ranks."""
        n = len(data) if limit is None else min(limit, len(data))
        out = torch.zeros(n, 2, dtype=torch.float64, device=accelerator.device)
        mine = list(range(accelerator.process_index, n, accelerator.num_processes))
        with self._active() as model:
            for k in range(0, len(mine), batch):
                idx = mine[k:k + batch]
                with autocast:
                    lp = _logps(model, [data.chosen[i] for i in idx] + [data.rejected[i] for i in idx], pad_id, accelerator)
                out[idx, 0], out[idx, 1] = lp[: len(idx)].double(), lp[len(idx):].double()
        return accelerator.reduce(out, reduction="sum") if accelerator.num_processes > 1 else out

    def drift(self, data: PairData, ref: torch.Tensor, batch: int, pad_id: int, autocast: Any, accelerator: Any) -> float:
        """Largest change of the reference's log-probs on the first pairs since before step 1."""
        again = self.logps(data, batch, pad_id, autocast, accelerator, limit=min(8, len(data)))
        return float((again - ref[: len(again)]).abs().max())


def _logps(model: Any, rows: list[Row], pad_id: int, accelerator: Any) -> torch.Tensor:
    ids, pos, labels = (t.to(accelerator.device) for t in collate(rows, pad_id))
    return model(ids, pos, labels).float()


def _step(wrapped: Any, data: PairData, ref: torch.Tensor | None, mine: list[int], config: TrainConfig,
          per_step: int, pad_id: int, autocast: Any, accelerator: Any) -> dict[str, float]:
    """Forward/backward every micro-batch of one optimizer step; the loss is the mean over the
    global step's pairs (DDP averages gradients over ranks, hence the world / per_step scale).
    As in SFT, each micro-batch runs inside `accelerator.accumulate`, which syncs gradients only on
    the last one and divides the loss by the accumulation steps, so the scale multiplies them back."""
    world = accelerator.num_processes
    totals = torch.zeros(5, dtype=torch.float64, device=accelerator.device)  # loss, rewards c/r, margin, accuracy
    micro = [mine[k:k + config.batch_size] for k in range(0, len(mine), config.batch_size)]
    scale = world * accelerator.gradient_accumulation_steps / per_step
    for idx in micro:
        with accelerator.accumulate(wrapped):
            with autocast:
                lp = _logps(wrapped, [data.chosen[i] for i in idx] + [data.rejected[i] for i in idx], pad_id, accelerator)
            result = _loss(lp, idx, data, ref, config, accelerator.device)
            accelerator.backward(result.loss.sum() * scale)
        totals += torch.stack([result.loss.detach().double().sum(), result.chosen_reward.double().sum(),
                               result.rejected_reward.double().sum(), result.margin.double().sum(),
                               (result.margin > 0).double().sum()])
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    values = (totals / per_step).tolist()
    return dict(zip(("loss", *CURVES), values))


def _loss(lp: torch.Tensor, idx: list[int], data: PairData, ref: torch.Tensor | None, config: TrainConfig,
          device: torch.device) -> Any:
    b = len(idx)
    counts = torch.tensor([[answer_tokens(data.chosen[i]), answer_tokens(data.rejected[i])] for i in idx],
                          dtype=torch.float32, device=device)
    r = ref[idx].float() if ref is not None else None
    return preference_loss(lp[:b], lp[b:], r[:, 0] if r is not None else None, r[:, 1] if r is not None else None,
                           counts[:, 0], counts[:, 1], kind=config.dpo_loss, beta=config.beta, gamma=config.simpo_gamma)


@torch.no_grad()
def _evaluate(wrapped: Any, held: PairData, ref: torch.Tensor | None, config: TrainConfig, pad_id: int,
              autocast: Any, accelerator: Any) -> dict[str, float]:
    """Loss, rewards and accuracy on the held-out pairs (whole set, on every rank: it is small)."""
    module = accelerator.unwrap_model(wrapped)
    module.eval()
    totals = torch.zeros(5, dtype=torch.float64, device=accelerator.device)
    for k in range(0, len(held), config.batch_size):
        idx = list(range(k, min(k + config.batch_size, len(held))))
        with autocast:
            lp = _logps(module, [held.chosen[i] for i in idx] + [held.rejected[i] for i in idx], pad_id, accelerator)
        res = _loss(lp, idx, held, ref, config, accelerator.device)
        totals += torch.stack([res.loss.double().sum(), res.chosen_reward.double().sum(), res.rejected_reward.double().sum(),
                               res.margin.double().sum(), (res.margin > 0).double().sum()])
    module.train()
    return {f"eval_{k}": v for k, v in zip(("loss", *CURVES), (totals / len(held)).tolist())}


def _metrics(state: dict[str, Any], config: TrainConfig, steps: int, elapsed: float, n_trainable: int, world: int,
             per_step: int, drift: float | None, held: dict[str, float] | None) -> dict[str, Any]:
    losses = state["losses"]
    tail = max(1, min(10, len(losses) // 5))

    def last(name: str) -> float:
        values = state[name] if name != "loss" else losses
        return sum(values[-tail:]) / len(values[-tail:]) if values else float("nan")

    return {
        "method": "dpo", "dpo_loss": config.dpo_loss, "beta": config.beta, "steps": steps, "train_seconds": elapsed,
        "train_tokens": state["train_tokens"], "tokens_per_second": state["train_tokens"] / max(elapsed, 1e-9),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first_loss": losses[0] if losses else float("nan"), "final_loss": losses[-1] if losses else float("nan"),
        "final_loss_smoothed": last("loss"),
        **{f"final_{k}": last(k) for k in CURVES},
        "first_margin": state["margin"][0] if state["margin"] else float("nan"),
        "reference_drift": drift, "trainable_parameters": n_trainable, "world_size": world,
        "global_batch_pairs": per_step, "eval_loss": held["eval_loss"] if held else None, **(held or {}),
    }


def _counts(values: Any) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(v for v in values if v))

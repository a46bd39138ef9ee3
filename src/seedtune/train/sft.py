"""Supervised fine-tuning, top to bottom: load -> tokenize -> check -> pack -> train -> save.

Every step is written out here (torchtune's "recipe" habit); the pieces it calls are small and
tested on their own: `tokenize` (labels), `packing` (BFD rows), `loss` (chunked head loss),
`modeling` (LoRA, loss module, packing self-check), `checkpoint` (exact resume), `export`.
Runs the same under `accelerate launch` (DDP/FSDP/DeepSpeed): accelerate owns the device and the
process group; the loss normalisation across ranks is ours.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from seedtune.errors import SeedtuneError
from seedtune.models.device import bf16_supported
from seedtune.train import checkpoint, distributed, flops, fused, speed
from seedtune.train.config import TrainConfig
from seedtune.train.distributed import sharding_kind
from seedtune.train.data import lineage, prepare, read_training_records, split_eval
from seedtune.train.modeling import SFTModule, add_lora, causal_lm_of, load_base, self_check_packing
from seedtune.train.packing import Row, collate, fill_ratio, pack_rows


@dataclass
class TrainResult:
    """What a run produced: where, how fast, how well, and what the pre-flight checks found."""

    output: Path
    metrics: dict[str, Any]
    preflight: dict[str, Any]
    losses: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.metrics["final_loss"]


def train(config: TrainConfig, log: Callable[[str], None] | None = None, progress: bool = True,
          on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Fine-tune `config.model` on `config.data`; write the model directory; return the metrics.

    `on_step(step)` runs after every optimizer step (the bench's profiler steps there)."""
    # 1. load ------------------------------------------------------------------------------
    run = begin(config, log)
    records = read_training_records(config.data)
    # Saved in prompt_format.json: chat shows earlier turns only to a model trained on them.
    run.fmt.conversations = bool(run.fmt.conversations) or any(
        sum(m.role == "user" for m in r.messages or []) > 1 for r in records)
    train_records, eval_records = split_eval(records, config.eval_fraction, config.seed)

    # 2-3. tokenize + check ----------------------------------------------------------------
    data, preflight = tokenize_and_check(config, run, train_records, eval_records, len(records))

    # 4. pack ------------------------------------------------------------------------------
    rows = pack_rows(data.train, config.max_length, config.packing)
    eval_rows = pack_rows(data.eval, config.max_length, config.packing)
    preflight["rows"] = len(rows)
    preflight["fill_ratio"] = round(fill_ratio(rows, config.max_length), 4)
    run.say(f"packed {len(data.train)} samples into {len(rows)} rows of <= {config.max_length} tokens "
            f"(fill {preflight['fill_ratio']:.1%})" if config.packing else f"{len(rows)} rows (packing off)")

    # 5. model setup -----------------------------------------------------------------------
    module = build_module(config, run, rows, preflight)

    # 6. optimizer, schedule, accelerate ---------------------------------------------------
    loop = prepare_loop(config, run, module, len(rows))

    # 7. train (with speedups, each step's activations reuse the last step's memory) ---------
    with speed.reuse_freed_memory(config.speedups):
        eval_loss = train_steps(config, run, loop, rows, eval_rows, progress, on_step)

    # 8. save ------------------------------------------------------------------------------
    metrics = _metrics(loop, eval_loss, module, run.accelerator.num_processes)
    save_model(config, run, loop, module, data, records, metrics, preflight)
    return TrainResult(output=Path(config.output), metrics=metrics, preflight=preflight, losses=loop.losses)


def tokenize_and_check(config: TrainConfig, run: "Start", train_records: list[Any], eval_records: list[Any],
                       n_records: int) -> tuple[Any, dict[str, Any]]:
    """Labels for every row, then the pre-flight checks; refuses to train on broken labels.
    Returns the prepared data and the pre-flight summary saved beside the model."""
    data = prepare(train_records, eval_records, run.fmt, run.tokenizer, config.max_length, config.truncation,
                   config.all_turns)
    preflight = data.summary()
    preflight["prompt_format"] = run.fmt.type
    _print_preflight(run.say, preflight, n_records)
    if not data.checks.ok:
        raise SeedtuneError("pre-flight label checks failed: " + "; ".join(data.checks.failures[:3]),
                            hint="this is a bug in label building or a broken tokenizer; please report it with the model name")
    if not data.train:
        raise SeedtuneError("no training rows left after the length policy",
                            hint=f"raise --max-length (now {config.max_length}) or use truncation=truncate-prompt-left")
    return data, preflight


def build_module(config: TrainConfig, run: "Start", rows: list[Row], preflight: dict[str, Any]) -> SFTModule:
    """LoRA or full weights, the speedups, the loss module; then the packing self-check."""
    model = setup_model(run.model, config, run.kind)
    module = SFTModule(model, chunk=config.loss_chunk_size).to(run.accelerator.device)
    n_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    run.say(f"trainable parameters: {n_trainable:,} ({'full' if config.full else f'LoRA r={config.lora_r}'}); "
            f"precision: {'bf16 autocast' if run.use_bf16 else 'fp32'}; device: {run.accelerator.device}"
            + (f"; sharding: {run.kind}" if run.kind != "none" else "")
            + ("; speedups: segment attention, fused LoRA, fused norm/MLP/rotary, fused AdamW" if config.speedups else "; speedups off"))
    if config.self_check and config.packing:
        # The shortest packed rows keep the fp32 check cheap (seconds, even for a 270M model).
        multi = sorted((_trim(r) for r in rows if r.n_samples > 1), key=len)[:2]
        if multi:
            with _fp32_view(module, run.base_dtype):
                preflight["self_check"] = self_check_packing(module, multi, run.tokenizer.pad_token_id)
            run.say(f"packing self-check passed (max relative diff {preflight['self_check']['max_rel_diff']:.1e})")
    return module


@dataclass
class Loop:
    """The training loop's state: what steps the model, where it stands, what it has seen."""

    opt: "Optimizing"
    per_step: int
    total_steps: int
    start: int
    counters: dict[str, Any]
    writer: Any
    ckpt_dir: Path
    model: Any  # the unwrapped model: what checkpoints save
    log_every: int = 1
    shape: Any = None  # flops.Shape of the model: each step adds its model FLOPs to the counters
    losses: list[float] = field(default_factory=list)
    elapsed: float = 0.0


def prepare_loop(config: TrainConfig, run: "Start", module: SFTModule, n_rows: int) -> Loop:
    """AdamW, the schedule and accelerate's wrapping; resume from a checkpoint when asked."""
    shape = flops.Shape.of(causal_lm_of(module.model))  # before sharding splits the parameters
    per_step, total_steps, opt = schedule(config, module, n_rows, run.accelerator, run.kind)
    ckpt_dir = Path(config.output) / "checkpoints"
    counters: dict[str, Any] = {"train_tokens": 0, "elapsed": 0.0, "losses": []}
    start = resume(config, ckpt_dir, module.model, opt.optimizer, opt.scheduler, run.accelerator, run.say, counters,
                   restore=distributed.restore_checkpoint(opt.wrapped, opt.plain) if run.kind != "none" else None)
    writer = _tensorboard(Path(config.output) / "logs") if (config.tensorboard and run.main) else None
    return Loop(opt, per_step, total_steps, start, counters, writer, ckpt_dir, module.model, config.log_every,
                shape=shape, losses=list(counters["losses"]))


def train_steps(config: TrainConfig, run: "Start", loop: Loop, rows: list[Row], eval_rows: list[Row],
                progress: bool, on_step: Callable[[int], None] | None) -> float | None:
    """The optimizer steps, with logging, periodic eval and checkpoints; the final eval loss."""
    accelerator, opt = run.accelerator, loop.opt
    order = _DataOrder(len(rows), config.seed)
    autocast = torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=run.use_bf16)
    bar = _progress(loop.total_steps, loop.start, enabled=progress and run.main)
    opt.wrapped.train()
    eval_loss = None
    t0 = time.perf_counter() - loop.counters["elapsed"]
    pad_id = run.tokenizer.pad_token_id
    mine_per_step = config.batch_size * config.grad_accum
    for step in range(loop.start, loop.total_steps):
        picks = order.take(step * loop.per_step, loop.per_step)
        mine = picks[accelerator.process_index * mine_per_step:][:mine_per_step]
        micro = [[rows[i] for i in mine[k:k + config.batch_size]] for k in range(0, len(mine), config.batch_size)]
        step_loss, glob = accumulate_gradients(opt.wrapped, micro, pad_id, autocast, accelerator)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(opt.trainable, config.max_grad_norm)
        opt.optimizer.step()
        opt.scheduler.step()
        opt.optimizer.zero_grad(set_to_none=True)
        loop.losses.append(float(step_loss) / max(float(glob[0]), 1.0))
        loop.counters["train_tokens"] += int(glob[1])
        loop.counters["model_flops"] = loop.counters.get("model_flops", 0.0) + flops.step_flops(
            loop.shape, int(glob[1]), int(glob[0]), int(glob[2]), config.full)
        loop.elapsed = time.perf_counter() - t0
        _log_step(loop, step, opt.scheduler, bar)
        if on_step:
            on_step(step)
        if config.eval_every and eval_rows and (step + 1) % config.eval_every == 0:
            eval_loss = _eval_loss(opt.wrapped, eval_rows, config.batch_size, pad_id, autocast, accelerator)
            if loop.writer:
                loop.writer.add_scalar("eval/loss", eval_loss, step + 1)
        if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < loop.total_steps:
            _checkpoint(config, run, loop, step)
    loop.elapsed = time.perf_counter() - t0
    if bar:
        bar.close()
    if eval_rows:
        eval_loss = _eval_loss(opt.wrapped, eval_rows, config.batch_size, pad_id, autocast, accelerator)
    if loop.writer:
        if eval_loss is not None:
            loop.writer.add_scalar("eval/loss", eval_loss, loop.total_steps)
        loop.writer.close()
    return eval_loss


def save_model(config: TrainConfig, run: "Start", loop: Loop, module: SFTModule, data: Any, records: list[Any],
               metrics: dict[str, Any], preflight: dict[str, Any]) -> None:
    """Every rank joins the gather of full weights; rank 0 writes the model directory."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    full_state = distributed.full_state_dict(accelerator, loop.opt.wrapped, run.kind)  # every rank joins the gather
    if run.main:
        from seedtune.train.save import save_outputs

        out = Path(config.output)
        speed.use_segment_attention(module.model, False)  # the saved model and any later use: plain SDPA
        fused.use_fused_layers(causal_lm_of(module.model), False)  # and transformers' own layers
        save_outputs(out, module.model, run.tokenizer, run.fmt, config, data.specials.end_id,
                     lineage(config.data, records, config.model, str(run.resolved)), metrics, preflight,
                     loop.losses, merge=config.merge, full=config.full, base_dtype=_orig_dtype(run.resolved),
                     base_path=run.resolved, state_dict=full_state)
        run.say(f"saved to {out}: final loss {metrics['final_loss']:.4f}, {metrics['tokens_per_second']:.0f} tokens/s")
    accelerator.wait_for_everyone()


# --- helpers used above, in the order they appear ---------------------------------------------

@dataclass
class Start:
    """What every recipe (SFT, DPO) begins with."""

    accelerator: Any
    main: bool
    say: Callable[[str], None]
    use_bf16: bool
    base_dtype: torch.dtype
    model: Any
    tokenizer: Any
    resolved: Path
    fmt: Any
    kind: str = "none"  # sharding: none | fsdp | deepspeed


def begin(config: TrainConfig, log: Callable[[str], None] | None) -> Start:
    """Accelerate, threads, seed, precision, then the model and its prompt format."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from seedtune.io import ensure_dir, refuse_output_over_input

    # The model folder is written file by file: over the data or the base model it would destroy them.
    refuse_output_over_input(config.output, [p for p in (config.data, config.model) if Path(p).exists()], flag="--output")
    ensure_dir(config.output, create=False)  # a file in the way fails now, not after the last step

    # cpu=True when there is no GPU: accelerate then runs multi-process launches (torchrun /
    # `accelerate launch --multi_gpu` on a CPU box) as MULTI_CPU data parallel over gloo.
    # Accumulation goes through accelerate's `accumulate` so DeepSpeed, which steps inside
    # `backward`, steps once per optimizer step; FSDP/DDP skip the gradient sync before the last.
    distributed.refuse_cpu_deepspeed()
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), gradient_accumulation_steps=config.grad_accum)
    kind = sharding_kind(accelerator)
    if kind == "deepspeed" and (config.save_every or config.resume):
        distributed.checkpoint_state(None, None, kind)  # says what to do instead
    main = accelerator.is_main_process
    say = (log or print) if main else (lambda _msg: None)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    set_seed(config.seed)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_supported(accelerator.device))
    # LoRA: the frozen base can live in bf16 (half the memory, no per-step casts); the adapter
    # stays fp32. Full fine-tuning keeps fp32 master weights and runs the math under autocast.
    # Sharded runs keep the base in fp32 too: FSDP2 flattens a layer's parameters into one buffer
    # and needs them in one dtype.
    base_dtype = torch.bfloat16 if (use_bf16 and not config.full and kind == "none") else torch.float32
    model, tokenizer, resolved = load_base(config.model, base_dtype, qlora=config.qlora)
    from seedtune.prompts.formats import for_model, load_format

    # A model seedtune trained before carries its prompt format: keep using it (auto), so a
    # second round of training and inference never disagree.
    fmt = (config.prompt_format == "auto" and load_format(resolved)) or for_model(tokenizer, config.prompt_format)
    return Start(accelerator, main, say, use_bf16, base_dtype, model, tokenizer, resolved, fmt, kind)


def setup_model(model: Any, config: TrainConfig, kind: str = "none") -> Any:
    """Full fine-tuning (fp32 master weights, all trainable) or a LoRA adapter; no KV cache; with
    `speedups`, segment attention and (unsharded) fused LoRA linears and layers (speed.py, fused.py)."""
    if config.full:
        model.float()
        model.requires_grad_(True)
    else:
        model = add_lora(model, config.lora_r, config.alpha, config.lora_dropout, config.lora_targets, config.qlora)
    if config.speedups:
        speed.use_segment_attention(causal_lm_of(model))
        if kind == "none":  # sharding wraps each weight; the fused paths read them directly
            speed.fuse_lora(model)
            fused.use_fused_layers(causal_lm_of(model))
    if config.gradient_checkpointing:
        causal_lm_of(model).gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    return model


@dataclass
class Optimizing:
    """The prepared module and what steps it: `plain` is the AdamW itself (DeepSpeed wraps
    `optimizer` in its ZeRO optimizer; the schedule and sharded checkpoints use the plain one)."""

    wrapped: Any
    optimizer: Any
    plain: Any
    scheduler: Any
    trainable: list[Any]


def schedule(config: TrainConfig, module: Any, n_rows: int, accelerator: Any, kind: str) -> tuple[int, int, Optimizing]:
    """(rows per optimizer step, total steps, the module prepared for its sharding with AdamW and
    the LR scheduler)."""
    from transformers import get_scheduler

    per_step = config.batch_size * config.grad_accum * accelerator.num_processes
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * n_rows / per_step))
    made: list[Any] = []

    def adamw(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        made.append(speed.adamw(params, fused=config.speedups and kind == "none", lr=config.learning_rate,
                                weight_decay=config.weight_decay, betas=(0.9, 0.999), eps=1e-8))
        return made[-1]

    wrapped, optimizer, trainable = distributed.prepare(accelerator, module, adamw, kind, config.batch_size)
    # The schedule drives the plain optimizer: DeepSpeed's ZeRO optimizer reads its param groups.
    scheduler = get_scheduler(config.lr_scheduler, made[0], num_warmup_steps=int(config.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    return per_step, total_steps, Optimizing(wrapped, optimizer, made[0], scheduler, trainable)


def _print_preflight(say: Callable[[str], None], p: dict[str, Any], n_records: int) -> None:
    ok = lambda b: "ok" if b else "FAILED"  # noqa: E731
    say(f"pre-flight: {n_records} records -> {p['kept']} train rows, {p['eval_rows']} eval rows "
        f"({p['dropped_too_long']} dropped for length, {p['truncated']} prompt-truncated, "
        f"{p['dropped_empty_output']} with empty output)")
    say(f"  prompt never trained: {ok(p['prompt_never_trained'])} | end token trained: {ok(p['end_token_trained'])} | "
        f"every row trained: {ok(p['every_row_trained'])} | prompt is a token prefix: {ok(p['prompt_is_prefix'])}")
    say(f"  trained tokens: {p['trained_tokens']:,} of {p['total_tokens']:,} ({p['trained_fraction']:.1%})"
        + (f"; {p['boundary_merges']} rows would merge tokens across the prompt/answer split if tokenised jointly"
           if p["boundary_merges"] else ""))
    if p.get("all_turn_conversations"):
        say(f"  {p['all_turn_conversations']} conversations trained on every assistant turn (user/system turns masked)")


def _trim(row: Row, max_samples: int = 3) -> Row:
    """A short packed row for the self-check (first few samples)."""
    starts = [i for i, p in enumerate(row.position_ids) if p == 0][: max_samples + 1]
    end = starts[max_samples] if len(starts) > max_samples else len(row)
    return Row(row.input_ids[:end], row.labels[:end], row.position_ids[:end], min(row.n_samples, max_samples))


class _fp32_view:
    """Temporarily run a bf16-stored model in fp32 so the self-check tolerance means something."""

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype):
        self.module, self.dtype = module, dtype

    def __enter__(self) -> None:
        if self.dtype != torch.float32:
            self.saved = {n: p.dtype for n, p in self.module.named_parameters()}
            self.module.float()

    def __exit__(self, *exc: object) -> None:
        if self.dtype != torch.float32:
            for n, p in self.module.named_parameters():
                p.data = p.data.to(self.saved[n])


def resume(config: TrainConfig, ckpt_dir: Path, model: Any, optimizer: Any, scheduler: Any, accelerator: Any,
           say: Callable[[str], None], state: dict[str, Any], restore: Any = None) -> int:
    """With `resume` set, restore the checkpoint and update `state` with its counters; the step to
    start at. `restore` puts full state back into a sharded model (see checkpoint.load)."""
    resume_from = _resume_path(config, ckpt_dir)
    if resume_from is None:
        return 0
    state.update(checkpoint.load(resume_from, model, optimizer, scheduler, accelerator.process_index, restore=restore))
    step = state.pop("step")
    say(f"resumed from {resume_from.name} at step {step}")
    return step


def _resume_path(config: TrainConfig, ckpt_dir: Path) -> Path | None:
    if not config.resume:
        return None
    if isinstance(config.resume, str) and config.resume.lower() not in ("true", "latest"):
        path = Path(config.resume)
        if not (path / "state.json").exists():
            raise SeedtuneError(f"no checkpoint at {path}", hint="pass resume=true to use the latest one in the output directory")
        return path
    found = checkpoint.latest(ckpt_dir)
    if found is None:
        raise SeedtuneError(f"no checkpoint to resume from in {ckpt_dir}",
                            hint="run without --resume, or set save_every=N so checkpoints are written")
    return found


def _tensorboard(path: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but a stripped install should still train
        return None
    return SummaryWriter(str(path))


class _DataOrder:
    """Row order: a fresh seeded permutation per epoch; position k of the endless stream."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self._perms = n, seed, {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            self._perms[epoch] = torch.randperm(self.n, generator=g).tolist()
        return self._perms[epoch]

    def take(self, start: int, count: int) -> list[int]:
        return [self._perm(k // self.n)[k % self.n] for k in range(start, start + count)]


def accumulate_gradients(wrapped: Any, micro: list[list[Row]], pad_id: int, autocast: Any,
                         accelerator: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward/backward every micro-batch of one optimizer step; returns (global loss sum,
    global [trained tokens, real tokens, attended pairs]) - the last two for FLOPs (flops.py).

    The step's loss is the sum over the global step's trained tokens divided by their count, so
    accumulation and data parallelism give the gradient of the mean over the global batch. DDP
    averages gradients over ranks, so each rank scales its sum by world / global_count. Each
    micro-batch runs inside `accelerator.accumulate`, which syncs gradients only on the last one
    and divides the loss by the accumulation steps (DeepSpeed's engine does the same division),
    so the loss is multiplied back by them.
    """
    world = accelerator.num_processes
    rows = [r for mb in micro for r in mb]
    local = torch.tensor([sum(_trained(r) for r in rows), sum(len(r) for r in rows),
                          sum(flops.attention_pairs(r.position_ids) for r in rows)],
                         dtype=torch.float64, device=accelerator.device)
    glob = accelerator.reduce(local, reduction="sum") if world > 1 else local
    n_tokens = max(float(glob[0]), 1.0)
    step_loss = torch.zeros((), dtype=torch.float64, device=accelerator.device)
    scale = world * accelerator.gradient_accumulation_steps / n_tokens
    for mb in micro:
        ids, pos, labels = (t.to(accelerator.device) for t in collate(mb, pad_id))
        with accelerator.accumulate(wrapped):
            with autocast:
                loss_sum = wrapped(ids, pos, labels)
            accelerator.backward(loss_sum * scale)
        step_loss += loss_sum.detach().double()
    if world > 1:
        step_loss = accelerator.reduce(step_loss, reduction="sum")
    return step_loss, glob


def _log_step(loop: Loop, step: int, scheduler: Any, bar: Any) -> None:
    tps = loop.counters["train_tokens"] / max(loop.elapsed, 1e-9)
    if loop.writer and (step + 1) % loop.log_every == 0:
        loop.writer.add_scalar("train/loss", loop.losses[-1], step + 1)
        loop.writer.add_scalar("train/tokens_per_second", tps, step + 1)
        loop.writer.add_scalar("train/learning_rate", scheduler.get_last_lr()[0], step + 1)
    if bar:
        bar.update(step + 1, loop.losses[-1], tps)


def _checkpoint(config: TrainConfig, run: "Start", loop: Loop, step: int) -> None:
    state = {"train_tokens": loop.counters["train_tokens"], "elapsed": loop.elapsed, "losses": loop.losses,
             "model_flops": loop.counters.get("model_flops", 0.0)}
    opt = loop.opt
    gathered = distributed.checkpoint_state(opt.wrapped, opt.plain, run.kind)  # every rank joins under FSDP
    checkpoint.save_on_every_rank(loop.ckpt_dir, step + 1, loop.model, opt.optimizer, opt.scheduler, state,
                                  run.accelerator, keep=config.save_total_limit, gathered=gathered)


def _metrics(loop: Loop, eval_loss: float | None, module: SFTModule, world: int) -> dict[str, Any]:
    losses = loop.losses
    tail = losses[-max(1, min(10, len(losses) // 5)):] if losses else [float("nan")]
    return {
        "steps": loop.total_steps,
        "train_tokens": loop.counters["train_tokens"],
        "tokens_per_second": loop.counters["train_tokens"] / max(loop.elapsed, 1e-9),
        "train_seconds": loop.elapsed,
        "model_flops": loop.counters.get("model_flops", 0.0),
        "model_tflops_per_second": loop.counters.get("model_flops", 0.0) / max(loop.elapsed, 1e-9) / 1e12,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_loss": losses[-1] if losses else float("nan"),
        "final_loss_smoothed": sum(tail) / len(tail),
        "first_loss": losses[0] if losses else float("nan"),
        "eval_loss": eval_loss,
        "trainable_parameters": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "world_size": world,
        "global_batch_rows": loop.per_step,
    }


def _trained(row: Row) -> int:
    """Trained tokens under the loss's shift rule (next token trained, not a sample start)."""
    return sum(1 for t in range(1, len(row)) if row.labels[t] != -100 and row.position_ids[t] != 0)


class _progress:
    """Rich progress bar with loss, tokens/s and ETA (a no-op object when disabled)."""

    def __new__(cls, total: int, start: int, enabled: bool):
        if not enabled:
            return None
        return super().__new__(cls)

    def __init__(self, total: int, start: int, enabled: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:.0f} tok/s"), TimeRemainingColumn(),
                          transient=False)
        self.task = self.p.add_task("train", total=total, completed=start, loss=float("nan"), tps=0.0)
        self.p.start()

    def update(self, done: int, loss: float, tps: float) -> None:
        self.p.update(self.task, completed=done, loss=loss, tps=tps)

    def close(self) -> None:
        self.p.stop()


@torch.no_grad()
def _eval_loss(wrapped: Any, rows: list[Row], batch: int, pad_id: int, autocast: Any, accelerator: Any) -> float:
    """Mean CE over the held-out rows' trained tokens (rows split across ranks).

    Runs the unwrapped module (a DDP forward is a collective: buffer broadcast). A sharded
    forward is a collective too (FSDP all-gathers each layer), so every rank runs the same number
    of batches: a rank that runs out of rows repeats row 0 and does not count it.
    """
    wrapped = accelerator.unwrap_model(wrapped)
    wrapped.eval()
    total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    mine = rows[accelerator.process_index::accelerator.num_processes]
    n_batches = math.ceil(math.ceil(len(rows) / accelerator.num_processes) / batch)
    for k in range(0, n_batches * batch, batch):
        mb = mine[k:k + batch]
        ids, pos, labels = (t.to(accelerator.device) for t in collate(mb or rows[:1], pad_id))
        with autocast:
            loss = wrapped(ids, pos, labels).double()
        if mb:
            total[0] += loss
            total[1] += sum(_trained(r) for r in mb)
    wrapped.train()
    total = accelerator.reduce(total, reduction="sum")
    return float(total[0] / total[1].clamp_min(1))


def _orig_dtype(path: Path) -> torch.dtype:
    """The dtype the base model was published in (merged weights are saved in it)."""
    import json

    cfg = json.loads((Path(path) / "config.json").read_text())
    name = cfg.get("dtype") or cfg.get("torch_dtype") or "float32"
    return getattr(torch, str(name), torch.float32)

"""Sharded training under accelerate: which sharding a launch asked for, and full weights back.

Data parallel (DDP) keeps a whole copy of the model on every rank, so rank 0 can save what it
holds. Sharded training does not: FSDP2 turns each parameter into a DTensor holding 1/N of it,
DeepSpeed ZeRO-3 leaves an empty partition on each rank. Saving therefore starts with a
collective that every rank joins (`full_state_dict`), and only then does rank 0 write files.

Kinds of sharding:
  - "fsdp": accelerate's FSDP on accelerators (`distributed_type: FSDP`);
  - "fsdp-cpu": an FSDP launch on a machine without GPUs. accelerate enables FSDP only for GPU-like
    devices (its state sets MULTI_CPU and ignores the FSDP plugin when `cpu=True`), but torch's
    FSDP2 (`fully_shard`) runs on CPU over gloo, so we apply it ourselves: each decoder layer, then
    the root. This is what lets the sharded save path be tested without a GPU;
  - "deepspeed": ZeRO-2/3 through accelerate (GPU only here);
  - "none": one process or DDP.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

from seedtune.errors import SeedtuneError


def fsdp_requested() -> bool:
    """`accelerate launch` with an FSDP config (or `--use_fsdp`) exports ACCELERATE_USE_FSDP."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")


def refuse_cpu_deepspeed() -> None:
    """DeepSpeed through accelerate needs GPUs: on a CPU-only machine accelerate's state reports
    one process while DeepSpeed sees them all, and DeepSpeed stops at its batch-size assertion."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() in ("1", "true", "yes") and not torch.cuda.is_available():
        raise SeedtuneError("DeepSpeed ZeRO needs CUDA GPUs; this machine has none",
                            hint="on CPUs launch with examples/accelerate/fsdp.yaml (FSDP2 over gloo) or ddp_cpu.yaml")


def sharding_kind(accelerator: Any) -> str:
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    if kind == DistributedType.DEEPSPEED:
        return "deepspeed"
    if kind == DistributedType.FSDP:
        return "fsdp"
    if kind == DistributedType.MULTI_CPU and fsdp_requested():
        return "fsdp-cpu"
    return "none"


def prepare(accelerator: Any, module: torch.nn.Module, make_optimizer: Callable[[list[torch.nn.Parameter]], Any],
            kind: str, micro_batch: int) -> tuple[Any, Any, list[torch.nn.Parameter]]:
    """(wrapped module, optimizer, trainable parameters as the wrapped module holds them).

    The trainable list is read after wrapping: FSDP2 replaces every parameter with a DTensor one,
    so a list taken before would clip gradients that no longer exist.
    """
    if kind == "fsdp-cpu":
        from torch.distributed.fsdp import fully_shard

        layer_names = set(getattr(module, "_no_split_modules", None) or [])
        for sub in module.modules():
            if type(sub).__name__ in layer_names:
                fully_shard(sub)
        fully_shard(module)
        trainable = [p for p in module.parameters() if p.requires_grad]
        return module, accelerator.prepare(make_optimizer(trainable)), trainable
    if kind == "deepspeed":
        # No dataloader goes through accelerate (the recipe packs rows itself), so DeepSpeed
        # cannot infer its micro-batch; the documented place to set it is the plugin's config.
        # Accumulation is the recipe's grad_accum (DeepSpeed steps inside backward, once per
        # `grad_accum` micro-batches), whatever the accelerate config file says.
        ds_config = accelerator.state.deepspeed_plugin.deepspeed_config
        ds_config["train_micro_batch_size_per_gpu"] = micro_batch
        ds_config["gradient_accumulation_steps"] = accelerator.gradient_accumulation_steps
        ds_config["train_batch_size"] = micro_batch * accelerator.gradient_accumulation_steps * accelerator.num_processes
    optimizer = make_optimizer([p for p in module.parameters() if p.requires_grad])
    wrapped, optimizer = accelerator.prepare(module, optimizer)
    if kind == "deepspeed" and _zero_stage(accelerator) == 3:
        _register_head(module)
    return wrapped, optimizer, [p for p in wrapped.parameters() if p.requires_grad]


def _zero_stage(accelerator: Any) -> int:
    return int(accelerator.state.deepspeed_plugin.deepspeed_config.get("zero_optimization", {}).get("stage", 0))


def _register_head(module: Any) -> None:
    """ZeRO-3 gathers a partitioned parameter only around its own module's forward. The loss reads
    `lm_head.weight` directly (it never calls the head), so tell DeepSpeed that the SFT module's
    forward and backward use it: it is then gathered for them and its gradient reduced."""
    import deepspeed

    head = module.head()
    deepspeed.zero.register_external_parameter(module, head.weight)


def checkpoint_state(wrapped: Any, optimizer: Any, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(full trainable weights, full optimizer state) of an FSDP run for a resumable checkpoint;
    a collective. None when not sharded (rank 0 saves its own objects)."""
    if kind == "none":
        return None
    if kind == "deepspeed":
        raise SeedtuneError("resumable checkpoints are not supported under DeepSpeed yet",
                            hint="set save_every=0 for DeepSpeed runs (the final model is saved in full), or use FSDP")
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    model_state, optim_state = get_state_dict(wrapped, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    return {k.removeprefix("model."): v for k, v in model_state.items() if k in trainable}, optim_state


def restore_checkpoint(wrapped: Any, optimizer: Any) -> Callable[[dict[str, torch.Tensor], dict[str, Any]], None]:
    """The inverse of `checkpoint_state`: every rank loads the full state and keeps its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    def restore(weights: dict[str, torch.Tensor], optim_state: dict[str, Any]) -> None:
        set_state_dict(wrapped, optimizer, model_state_dict={f"model.{k}": v for k, v in weights.items()},
                       optim_state_dict=optim_state, options=StateDictOptions(full_state_dict=True, strict=False))

    return restore


def full_state_dict(accelerator: Any, wrapped: Any, kind: str) -> dict[str, torch.Tensor] | None:
    """The trained model's full weights (keys as in `module.model`), on the main process only.

    A collective: every rank must call it. Returns None when the model is not sharded (rank 0
    already holds every weight and saves from the model object itself).
    """
    if kind == "none":
        return None
    if kind == "deepspeed":
        try:
            state = accelerator.get_state_dict(wrapped)
        except ValueError as exc:  # ZeRO-3 without 16-bit gathering on save
            raise SeedtuneError(
                "DeepSpeed ZeRO-3 cannot gather the trained weights for saving",
                hint="set `zero3_save_16bit_model: true` in the accelerate config "
                     "(stage3_gather_16bit_weights_on_model_save in a DeepSpeed JSON)") from exc
    else:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not accelerator.is_main_process:
        return None
    return {k.removeprefix("model."): v for k, v in state.items()}  # keys relative to module.model

"""The trained model directory: everything eval, chat, serve and export need, nothing implicit.

    DIR/
      model.safetensors, config.json, generation_config.json   merged weights (plain from_pretrained)
      tokenizer files, prompt_format.json                       how to prompt it, exactly as trained
      adapter/                                                  the LoRA adapter alone (peft format)
      train_config.json, lineage.json, metrics.json, preflight.json, loss_curve.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seedtune.io import write_json


def save_outputs(out: Path, model: Any, tokenizer: Any, fmt: Any, config: Any, end_id: int, lineage: dict[str, Any],
                 metrics: dict[str, Any], preflight: dict[str, Any], losses: list[float], *, merge: bool, full: bool,
                 base_dtype: torch.dtype, base_path: Path, state_dict: dict[str, torch.Tensor] | None = None,
                 curves: dict[str, list[float]] | None = None) -> None:
    """Write the model directory. `state_dict` holds the full weights gathered from a sharded run
    (FSDP, ZeRO-3), keyed as in `model`; None means `model` itself holds every weight. `curves`
    are extra per-step series (DPO's rewards) written beside the loss."""
    from seedtune.prompts.formats import save_format

    out.mkdir(parents=True, exist_ok=True)
    if full:
        final = model if state_dict is None else _rebuild(model, state_dict, base_dtype)
    else:
        # peft keeps only the adapter's entries of a given state dict.
        model.save_pretrained(out / "adapter", state_dict=state_dict)
        final = _merge(out / "adapter", base_path, base_dtype) if merge else None
    if final is not None:
        final = final.to(base_dtype)  # a plain full-precision model here, never a 4-bit one
        _stop_on(final, end_id)
        final.config.use_cache = True
        final.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    save_format(fmt, out)
    write_json(out / "train_config.json", config.model_dump(mode="json"))
    write_json(out / "lineage.json", lineage)
    write_json(out / "metrics.json", metrics)
    write_json(out / "preflight.json", preflight)
    # DPO adds its reward curves (chosen/rejected reward, margin, accuracy) beside the loss.
    write_json(out / "loss_curve.json", {"loss": losses, **(curves or {})})


def _merge(adapter_dir: Path, base_path: Path, dtype: torch.dtype) -> Any:
    """Merge the adapter into the base *as published* (e.g. fp32), not into the bf16 or 4-bit
    (QLoRA) copy we trained against, so merging never costs the base weights precision."""
    from seedtune.models.loading import load_adapter, load_causal_lm

    base, _ = load_causal_lm(base_path, dtype=dtype, eval_mode=False)
    return load_adapter(base, adapter_dir).merge_and_unload()


def _rebuild(model: Any, state_dict: dict[str, torch.Tensor], dtype: torch.dtype) -> Any:
    """A plain model holding gathered weights: the trained one's parameters are shards."""
    import copy

    from transformers import AutoModelForCausalLM

    fresh = AutoModelForCausalLM.from_config(copy.deepcopy(model.config), dtype=dtype)
    missing, unexpected = fresh.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, strict=False)
    if unexpected or [k for k in missing if k not in _tied(fresh)]:
        raise RuntimeError(f"gathered weights do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    fresh.tie_weights()
    fresh.generation_config = copy.deepcopy(model.generation_config)
    return fresh


def _tied(model: Any) -> set[str]:
    """Names that share storage with another parameter (e.g. lm_head.weight with the embeddings)."""
    seen: dict[int, str] = {}
    tied = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            tied.add(name)
        seen.setdefault(id(p), name)
    return tied


def _stop_on(model: Any, end_id: int) -> None:
    """Make generation stop on the token we trained as the answer's end (e.g. <|im_end|>)."""
    gen = getattr(model, "generation_config", None)
    if gen is None:
        return
    eos = gen.eos_token_id
    ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    if end_id not in ids:
        ids.append(end_id)
    gen.eos_token_id = ids[0] if len(ids) == 1 else ids

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
                 base_dtype: torch.dtype, base_path: Path | None = None,
                 curves: dict[str, list[float]] | None = None) -> None:
    from seedtune.prompts.formats import save_format

    out.mkdir(parents=True, exist_ok=True)
    if full:
        final = model
    else:
        model.save_pretrained(out / "adapter")
        final = _merge(model, out / "adapter", base_path, base_dtype) if merge else None
    if final is not None:
        final = final.to(base_dtype)
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


def _merge(model: Any, adapter_dir: Path, base_path: Path | None, dtype: torch.dtype) -> Any:
    """Merge the adapter into the base *as published* (e.g. fp32), not into the bf16 copy we
    trained against, so merging never costs the base weights precision."""
    if base_path is None:
        return model.merge_and_unload()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()


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

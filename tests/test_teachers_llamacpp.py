"""The llama.cpp engine: chosen where it can run and transformers otherwise, converted once per
model content, and answering like HFTeacher (same prompt tokens, same greedy answers).

Tests that run llama.cpp skip without llama-cpp-python (`pip install 'seedtune[speed]'`)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from seedtune.errors import ConfigError, SeedtuneError
from seedtune.teachers import Request, open_teacher, parse
from seedtune.teachers.registry import choose_engine


@pytest.fixture
def without_llama_cpp(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))


@pytest.fixture
def with_llama_cpp(monkeypatch):
    """Pretend llama-cpp-python is installed (for choices made before anything is loaded)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else real(name, *a))


def test_spec_and_engine_names():
    assert (parse("llamacpp:gemma-3-270m").kind, parse("llamacpp:gemma-3-270m").name) == ("llamacpp", "gemma-3-270m")
    assert parse("llamacpp:x").info.local and parse("llamacpp:x").info.logprobs
    with pytest.raises(ConfigError, match="unknown engine"):
        choose_engine("x", "vllm")
    from seedtune.evaluate.config import EvalConfig
    from seedtune.generate.common import TeacherConfig

    assert TeacherConfig().engine == "auto" and EvalConfig(models=["m"], output="o").engine == "hf"
    with pytest.raises(ValueError):
        TeacherConfig(engine="fast")


def test_auto_falls_back_to_transformers_without_llama_cpp(tiny_model_dir, without_llama_cpp):
    assert choose_engine(str(tiny_model_dir), "auto") == ("hf", "engine: auto, llama-cpp-python is not installed")
    teacher = open_teacher(f"hf:{tiny_model_dir}", engine="auto")
    assert type(teacher).__name__ == "HFTeacher" and teacher.stats["engine"] == "hf"
    assert "not installed" in teacher.stats["engine_choice"]
    with pytest.raises(SeedtuneError, match="not installed") as caught:
        open_teacher(f"llamacpp:{tiny_model_dir}")
    assert "seedtune[speed]" in caught.value.hint


def test_auto_falls_back_for_an_architecture_without_a_gguf_writer(tmp_path, tiny_model_dir, with_llama_cpp, monkeypatch):
    monkeypatch.setattr("seedtune.teachers.registry._on_gpu", lambda device: False)
    model = tmp_path / "gpt2ish"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    engine, why = choose_engine(str(model), "auto")
    assert engine == "hf" and "'gpt2'" in why
    with pytest.raises(SeedtuneError, match="gpt2"):
        choose_engine(str(model), "llamacpp")
    assert choose_engine(str(tiny_model_dir), "auto")[0] == "llamacpp"  # llama: supported
    assert choose_engine(str(tiny_model_dir), "hf")[0] == "hf"


def test_eval_records_the_engine_and_keeps_its_answers_apart(tiny_model_dir, with_llama_cpp, monkeypatch):
    from seedtune.evaluate.backends import open_model

    monkeypatch.setattr("seedtune.teachers.registry._on_gpu", lambda device: False)
    on_hf = open_model(str(tiny_model_dir), "m", engine="hf")
    on_llama = open_model(str(tiny_model_dir), "m", engine="auto")
    assert on_hf.describe()["engine"].startswith("hf") and on_llama.describe()["engine"].startswith("llamacpp")
    assert on_hf.teacher.model_id != on_llama.teacher.model_id  # cached answers of one never serve the other


def test_gguf_cache_is_keyed_by_model_content(tmp_path, monkeypatch):
    from seedtune.models.gguf import cached_gguf
    from seedtune.testing import save_tiny_model

    monkeypatch.setenv("SEEDTUNE_CACHE", str(tmp_path / "cache"))
    model = save_tiny_model(tmp_path / "model")
    first = cached_gguf(model, "f16")
    stamp = first.stat().st_mtime_ns
    assert cached_gguf(model, "f16") == first and first.stat().st_mtime_ns == stamp  # converted once
    assert cached_gguf(model, "f32") != first
    save_tiny_model(tmp_path / "model", seed=1)  # retrained in place: new weights, same path
    assert cached_gguf(model, "f16") != first


def test_an_adapter_is_merged_before_conversion(tmp_path, monkeypatch):
    import torch
    from peft import LoraConfig, get_peft_model

    from seedtune.models.gguf import cached_gguf, unsupported
    from seedtune.testing import save_tiny_model, tiny_model, tiny_tokenizer

    monkeypatch.setenv("SEEDTUNE_CACHE", str(tmp_path / "cache"))
    base = save_tiny_model(tmp_path / "base")
    peft = get_peft_model(tiny_model(tiny_tokenizer()), LoraConfig(r=2, target_modules=["q_proj"]))
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.fill_(0.5)  # a trained adapter changes the weights
    peft.peft_config["default"].base_model_name_or_path = str(base)
    peft.save_pretrained(tmp_path / "adapter")
    assert unsupported(tmp_path / "adapter") is None
    merged = cached_gguf(tmp_path / "adapter", "f32")
    assert merged.is_file() and merged != cached_gguf(base, "f32")


def test_sampling_draws_from_the_nucleus_at_its_probabilities():
    import numpy as np

    from seedtune.teachers.llamacpp import _choose

    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = np.random.default_rng(1)
    nucleus = np.bincount([_choose(logits, 1.0, 0.7, rng) for _ in range(4000)], minlength=4) / 4000
    assert nucleus[2:].sum() == 0 and abs(nucleus[0] - 0.625) < 0.03  # {0.5, 0.3} renormalised
    plain = np.bincount([_choose(logits, 1.0, 1.0, rng) for _ in range(4000)], minlength=4) / 4000
    assert np.abs(plain - [0.5, 0.3, 0.15, 0.05]).max() < 0.03
    flat = np.zeros(70_000, dtype=np.float32)  # no token above the floor holds the mass: sort them all
    assert 0 <= _choose(flat, 1.0, 0.5, rng) < 35_001 and _choose(logits, 0.0, 0.5, None) == 0


def test_two_level_draw_picks_what_one_running_sum_picks():
    """`_draw` (block sums, then one block's running sum) against the plain float64 cumsum it
    replaced: the same index for every draw, across block edges, zero weights and short vocabularies."""
    import numpy as np

    from seedtune.teachers.llamacpp import _draw

    def plain(w, u):
        cdf = np.cumsum(w, dtype=np.float64)
        return min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(cdf) - 1)

    rng = np.random.default_rng(3)
    for vocab in (3, 256, 257, 511, 49_152):
        w = np.exp(rng.standard_normal(vocab).astype(np.float32) * 4).astype(np.float32)
        w[rng.integers(vocab, size=max(1, vocab // 10))] = 0.0
        draws = list(rng.random(200)) + [0.0, 1.0 - 1e-12]
        assert [_draw(w, u) for u in draws] == [plain(w, u) for u in draws]
    ones = np.ones(1000, dtype=np.float32)  # draws exactly on block and token boundaries
    assert [_draw(ones, k / 1000) for k in range(0, 1000, 8)] == list(range(0, 1000, 8))
    assert _draw(np.array([0, 0, 1, 0], dtype=np.float32), 0.999) == 2


# -- llama.cpp itself ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'seedtune[speed]')")
    from seedtune.teachers.llamacpp import LlamaCppTeacher
    from seedtune.teachers.transformers import HFTeacher
    from seedtune.testing import save_tiny_model

    model = save_tiny_model(tmp_path_factory.mktemp("tiny") / "m")
    patch = pytest.MonkeyPatch()
    patch.setenv("SEEDTUNE_CACHE", str(tmp_path_factory.mktemp("cache")))
    llama = LlamaCppTeacher(str(model), batch_size=3, dtype="float32", threads=1)
    patch.undo()
    yield HFTeacher(str(model), batch_size=3), llama
    llama.close()


def test_greedy_answers_and_counts_match_transformers(engines):
    hf, llama = engines
    requests = [Request.user(text, max_tokens=m, temperature=0.0)
                for text, m in [("hello there", 12), ("a b c", 5), ("写一首诗", 9), ("x", 7), ("why?", 3)]]
    requests.append(Request(prompt="Once upon", max_tokens=6, temperature=0.0))  # raw prompt (Magpie)
    ours, theirs = llama.generate(requests), hf.generate(requests)
    assert [c.texts for c in ours] == [c.texts for c in theirs]
    assert [(c.prompt_tokens, c.completion_tokens, c.finish_reasons) for c in ours] == \
           [(c.prompt_tokens, c.completion_tokens, c.finish_reasons) for c in theirs]


def test_top_logprobs_agree_with_transformers(engines):
    hf, llama = engines
    request = Request.user("a b c", max_tokens=2, temperature=0.0, top_logprobs=4)
    ours, theirs = llama.generate([request])[0].top_logprobs[0], hf.generate([request])[0].top_logprobs[0]
    assert list(ours) == list(theirs)
    assert all(abs(ours[t] - theirs[t]) < 1e-3 for t in ours)


def test_seeded_samples_do_not_depend_on_the_batch(engines):
    _, llama = engines
    seeded = Request.user("x", max_tokens=8, temperature=1.0, top_p=0.9, seed=7, n=2)
    alone = llama.generate([seeded])[0]
    crowded = llama.generate([Request.user("y", max_tokens=5, temperature=0.8, seed=1), seeded,
                              Request.user("z", max_tokens=9, temperature=0.0)])[1]
    assert alone.texts == crowded.texts and len(alone.texts) == 2


def test_stop_strings_cut_like_transformers(engines):
    """(A raw prompt: transformers also matches a stop string that begins in the prompt's last
    characters, llama.cpp's engine looks in the answer only.)"""
    hf, llama = engines
    base = hf.generate([Request(prompt="Once upon", max_tokens=12, temperature=0.0)])[0].text
    stop = base[3:5]
    assert len(stop) == 2 and not stop.startswith("n"), repr(base)  # not completed by the prompt's end
    request = Request(prompt="Once upon", max_tokens=12, temperature=0.0, stop=(stop,))
    ours, theirs = llama.generate([request])[0], hf.generate([request])[0]
    assert ours.text == theirs.text == base[:base.find(stop)] and ours.finish_reasons == ["stop"]


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~20 s on a quiet machine; a loaded one starves llama.cpp's OpenMP threads
def test_embedded_teacher_greedy_answers_agree():
    """SmolLM2-135M-Instruct, f16 GGUF vs transformers fp32: the same greedy answers on a few
    prompts (measured 16/16 in bench/generate.py; one near-tie flip is tolerated here)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'seedtune[speed]')")
    from seedtune.teachers.llamacpp import LlamaCppTeacher
    from seedtune.teachers.transformers import HFTeacher
    from seedtune.textsim import rouge_l

    prompts = ["What is the capital of Australia?", "Why is the sky blue?", "Write a haiku about autumn leaves.",
               "Describe how a bicycle works."]
    requests = [Request.user(p, max_tokens=32, temperature=0.0) for p in prompts]
    ours = [c.text for c in LlamaCppTeacher("smollm2-135m-instruct", batch_size=4).generate(requests)]
    theirs = [c.text for c in HFTeacher("smollm2-135m-instruct", batch_size=4).generate(requests)]
    assert sum(a == b for a, b in zip(ours, theirs)) >= 3, list(zip(ours, theirs))
    assert sum(rouge_l(a, b) for a, b in zip(ours, theirs)) / len(prompts) > 0.9


def _shared_prefix_requests() -> list[Request]:
    """Raw prompts with one long common beginning, more of them than the engine's 3 slots, so that
    rows admitted together and rows admitted later (beside a live donor) both share it."""
    preamble = "Answer the question below in a few words, as a careful assistant would. "
    questions = ["why?", "what now", "写一首诗", "a b c", "x y", "hello there"]
    return [Request(prompt=preamble + q, max_tokens=6 + i, temperature=0.0) for i, q in enumerate(questions)]


def test_shared_prompt_prefixes_run_once_with_the_same_answers(engines, monkeypatch):
    from seedtune.teachers import llamacpp

    hf, llama = engines
    requests = _shared_prefix_requests()
    before = llama.stats["shared_prompt_tokens"]
    shared = llama.generate(requests)
    saved = llama.stats["shared_prompt_tokens"] - before
    prompt_ids = [llama.prompter.encode(r) for r in requests]
    common = min(len(ids) for ids in prompt_ids)
    common = next((n for n in range(common) if len({tuple(ids[:n + 1]) for ids in prompt_ids}) > 1), common)
    assert common >= llamacpp._PREFILL_SHARED
    # Every row but the first starts after the common part (or later: 'why?' and 'what now' share a 'w').
    assert common * (len(requests) - 1) <= saved < common * len(requests)

    monkeypatch.setattr(llamacpp, "shared_prefix", lambda prompts: 0)
    alone = llama.generate(requests)
    assert [c.texts for c in shared] == [c.texts for c in alone] == [c.texts for c in hf.generate(requests)]
    assert [c.completion_tokens for c in shared] == [c.completion_tokens for c in alone]


def test_sliding_window_models_share_only_inside_the_window(tmp_path, monkeypatch):
    """Gemma-3 (a local layer with a 16-token window): the same answers whether the prefix is
    shared or not. Rows admitted together share it; rows admitted later find only donors whose
    window has moved past the prefix (its cells may be gone), and start from scratch."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'seedtune[speed]')")
    from seedtune.teachers import llamacpp
    from seedtune.testing import save_tiny_model

    model = save_tiny_model(tmp_path / "g3", arch="gemma3", layers=2)
    monkeypatch.setenv("SEEDTUNE_CACHE", str(tmp_path / "cache"))
    llama = llamacpp.LlamaCppTeacher(str(model), batch_size=3, dtype="float32", threads=1)
    try:
        requests = _shared_prefix_requests()
        assert llama._context.n_swa == 16 and min(len(llama.prompter.encode(r)) for r in requests) > 16
        shared = llama.generate(requests)
        saved = llama.stats["shared_prompt_tokens"]
        monkeypatch.setattr(llamacpp, "shared_prefix", lambda prompts: 0)
        assert [c.texts for c in shared] == [c.texts for c in llama.generate(requests)]
        # The first three rows are admitted together (two share); later rows do not.
        prompt = llama.prompter.encode(requests[0])
        assert 2 * llamacpp._PREFILL_SHARED <= saved < 2 * len(prompt)
    finally:
        llama.close()

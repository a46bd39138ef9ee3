"""The exact shortlist head (teachers/head.py) on the tiny kit: its top-k logits are the full head's,
greedy answers do not change, sampling/logprobs/streaming never see it, and the model is left as
it was (tied embedding untouched, the head restored even when generate raises)."""

from __future__ import annotations

import threading

import pytest
import torch

from seedtune.teachers import Request
from seedtune.teachers import head as head_module
from seedtune.teachers.head import MIN_VOCAB, SHORTLIST_K, ShortlistHead, installed, output_head, shortlist_blocker
from seedtune.teachers.transformers import HFTeacher
from seedtune.testing import tiny_model, tiny_tokenizer

PROMPTS = ["Translate the following sentence to French.", "hi", "总结这段话的主要内容。",
           "Write a Python function that returns the sum of a list. " * 3, "What is the capital of France?"]


@pytest.fixture
def model_and_tokenizer():
    tokenizer = tiny_tokenizer()
    return tiny_model(tokenizer), tokenizer


def _teacher(model, tokenizer, shortlist, batching="continuous"):
    return HFTeacher(model=model, tokenizer=tokenizer, batch_size=4, device="cpu", shortlist=shortlist, batching=batching)


def _greedy(max_tokens=8, **kw):
    return [Request.user(t, max_tokens=max_tokens, temperature=0.0, **kw) for t in PROMPTS]


def test_top_k_logits_are_the_full_heads_and_argmax_agrees(model_and_tokenizer):
    model, _ = model_and_tokenizer
    plain = output_head(model)
    hidden = torch.randn(3, 5, plain.in_features) * 4  # [batch, positions, hidden]
    shortlist = ShortlistHead(plain)
    with torch.inference_mode():
        full = plain(hidden)
        with installed(model, shortlist):
            assert output_head(model) is shortlist
            fast = output_head(model)(hidden)
    assert fast.shape == full.shape and fast.dtype == full.dtype
    top = fast.topk(SHORTLIST_K, dim=-1).indices
    torch.testing.assert_close(fast.gather(-1, top), full.gather(-1, top), rtol=1e-5, atol=1e-5)
    assert torch.equal(fast.argmax(-1), full.argmax(-1))
    # Outside the shortlist the logits are the bf16 approximations, not the fp32 values.
    assert not torch.equal(fast, full)
    torch.testing.assert_close(fast, full, rtol=0.02, atol=0.05)


def test_bias_and_a_changed_weight_are_honoured():
    linear = torch.nn.Linear(16, 300, bias=True)
    shortlist = ShortlistHead(linear, k=8)
    shortlist._users[threading.get_ident()] = 1  # as `installed` does for this thread
    hidden = torch.randn(4, 16)
    with torch.inference_mode():
        top = shortlist(hidden).topk(8, -1).indices
        torch.testing.assert_close(shortlist(hidden).gather(-1, top), linear(hidden).gather(-1, top))
        first_copy = shortlist.low_weight()
    with torch.no_grad():
        linear.weight.mul_(-1)  # changed in place: the bf16 copy must follow
    with torch.inference_mode():
        assert not torch.equal(shortlist.low_weight(), first_copy)
        assert torch.equal(shortlist(hidden).argmax(-1), linear(hidden).argmax(-1))


def test_greedy_answers_identical_with_and_without_the_shortlist(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    fast = _teacher(model, tokenizer, "force")
    slow = _teacher(model, tokenizer, "off")
    requests = _greedy()
    assert [c.texts for c in fast.generate(requests)] == [c.texts for c in slow.generate(requests)]
    assert fast.stats["head"] == "shortlist"
    assert fast._shortlist_head.low_weight() is fast._shortlist_head._low  # the bf16 copy was made and is kept
    assert fast.model_id == slow.model_id  # same answers: cache entries are shared


def test_sampling_logprobs_and_streaming_keep_the_full_head(model_and_tokenizer, monkeypatch):
    model, tokenizer = model_and_tokenizer
    used = []
    real = head_module.installed
    monkeypatch.setattr(head_module, "installed", lambda m, s: used.append(s) or real(m, s))
    for batching in ("static", "continuous"):
        teacher = _teacher(model, tokenizer, "force", batching)
        teacher.generate([Request.user("hi", max_tokens=3, temperature=1.0, seed=3)])
        teacher.generate([Request.user("hi", max_tokens=1, temperature=0.0, top_logprobs=5)])
        "".join(teacher.stream(Request.user("hi", max_tokens=3, temperature=0.0)))
        assert used == []
    mixed = [Request.user("hi", max_tokens=3, temperature=0.0), Request.user("yo", max_tokens=3, temperature=0.8, seed=1)]
    # A static batch mixing greedy and sampled rows is not all greedy: full head.
    _teacher(model, tokenizer, "force", "static").generate(mixed)
    assert used == []
    # Continuous batching runs the greedy rows apart from the sampled ones: they get the shortlist.
    _teacher(model, tokenizer, "force", "continuous").generate(mixed)
    assert len(used) == 1
    used.clear()
    _teacher(model, tokenizer, "force", "static").generate(_greedy(max_tokens=2))
    assert len(used) == 2  # two batches of 4 and 1: the spy does see greedy batches
    off = _teacher(model, tokenizer, "off")
    request = Request.user("hi", max_tokens=1, temperature=0.0, top_logprobs=5)
    assert teacher.generate([request])[0].top_logprobs == off.generate([request])[0].top_logprobs


def test_tied_embedding_untouched_and_head_restored(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    embedding = model.get_input_embeddings()
    before = embedding.weight.detach().clone()
    plain = output_head(model)
    assert plain.weight is embedding.weight  # the kit ties them, like Gemma and SmolLM2
    _teacher(model, tokenizer, "force").generate(_greedy(max_tokens=3)[:2])
    assert model.get_input_embeddings() is embedding and embedding.weight.dtype == torch.float32
    assert torch.equal(embedding.weight, before)
    assert output_head(model) is plain and plain.weight is embedding.weight


@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_head_restored_when_generate_raises(model_and_tokenizer, monkeypatch, batching):
    model, tokenizer = model_and_tokenizer
    plain = output_head(model)
    teacher = _teacher(model, tokenizer, "force", batching)
    seen = []

    def boom(*args, **kwargs):
        seen.append(output_head(model))
        raise RuntimeError("out of memory")

    # static batches call generate; the continuous loop calls the model's forward itself
    monkeypatch.setattr(model, "generate" if batching == "static" else "forward", boom)
    with pytest.raises(RuntimeError, match="out of memory"):
        teacher.generate(_greedy())
    assert isinstance(seen[0], ShortlistHead)  # it was installed during the call ...
    assert output_head(model) is plain  # ... and is gone after the exception


def test_other_threads_get_the_plain_head(model_and_tokenizer):
    model, _ = model_and_tokenizer
    plain = output_head(model)
    shortlist = ShortlistHead(plain)
    hidden = torch.randn(2, 1, plain.in_features) * 4
    got = {}
    with torch.inference_mode(), installed(model, shortlist):
        worker = threading.Thread(target=lambda: got.update(other=output_head(model)(hidden)))
        worker.start()
        worker.join()
        mine = output_head(model)(hidden)
    assert torch.equal(got["other"], plain(hidden))
    assert not torch.equal(mine, got["other"])


def test_blockers(model_and_tokenizer):
    model, _ = model_and_tokenizer
    assert shortlist_blocker(model, force=True) is None
    assert output_head(model).out_features < MIN_VOCAB
    assert "vocabulary" in shortlist_blocker(model)
    model.generation_config.repetition_penalty = 1.3
    assert "repetition_penalty" in shortlist_blocker(model, force=True)
    model.generation_config.repetition_penalty = None
    assert "no wider than bf16" in shortlist_blocker(model.to(torch.bfloat16), force=True)
    tokenizer = tiny_tokenizer()
    teacher = HFTeacher(model=tiny_model(tokenizer).to(torch.bfloat16), tokenizer=tokenizer, device="cpu", shortlist="force")
    teacher.generate([Request.user("hi", max_tokens=3, temperature=0.0)])
    assert teacher.stats["head"].startswith("full (the head computes in torch.bfloat16")


def test_unknown_mode_is_an_error(model_and_tokenizer):
    from seedtune.errors import SeedtuneError

    model, tokenizer = model_and_tokenizer
    with pytest.raises(SeedtuneError, match="shortlist"):
        _teacher(model, tokenizer, "fast")

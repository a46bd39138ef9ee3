"""HFTeacher on the tiny kit: batching keeps input order and per-request results, stops, seeds."""

from __future__ import annotations

import pytest

from seedtune.teachers import Request, from_string
from seedtune.teachers.transformers import HFTeacher, trim_at_stop


@pytest.fixture(scope="module")
def teacher(tiny_model_dir):
    return HFTeacher(str(tiny_model_dir), batch_size=4)


def _requests():
    texts = ["Translate the following sentence to French.", "hi", "总结这段话的主要内容。",
             "Write a Python function that returns the sum of a list. " * 3, "What is the capital of France?"]
    return [Request.user(t, max_tokens=12, temperature=0.0) for t in texts]


def test_batched_greedy_equals_one_at_a_time_in_input_order(teacher):
    requests = _requests()
    batched = teacher.generate(requests)
    single = [teacher.generate([r])[0] for r in requests]
    assert [c.texts for c in batched] == [c.texts for c in single]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in single]
    for request, completion in zip(requests, batched):
        assert completion.key == request.key(teacher.model_id)
        assert completion.prompt_tokens > 0
        assert completion.finish_reasons[0] in ("stop", "length")
        assert 0 < completion.completion_tokens <= 12


def test_seeded_sampling_is_independent_of_batch_company(teacher):
    requests = [Request.user(t, max_tokens=10, temperature=1.0, seed=7, n=2) for t in ("hi", "Summarize it.", "北京")]
    together = teacher.generate(requests)
    alone = teacher.generate([requests[1]])[0]
    assert together[1].texts == alone.texts
    assert len(together[1].texts) == 2
    other_seed = teacher.generate([Request.user("Summarize it.", max_tokens=10, temperature=1.0, seed=8, n=2)])[0]
    assert other_seed.texts != alone.texts  # a 512-token random model: a collision here is vanishingly unlikely


def test_raw_prompt_and_user_stop_strings(teacher):
    plain = teacher.generate([Request(prompt="The quick brown", max_tokens=16, temperature=0.0)])[0]
    assert plain.texts[0]
    # Stop at the first character the model produced: the answer must be cut before it.
    first = plain.texts[0].strip()[:1]
    if first:
        stopped = teacher.generate([Request(prompt="The quick brown", max_tokens=16, temperature=0.0, stop=(first,))])[0]
        assert first not in stopped.texts[0]
        assert stopped.finish_reasons == ["stop"]


def test_chat_format_stop_is_end_of_turn(teacher):
    assert "<|im_end|>" in teacher.stops_for(Request.user("hi"))
    assert teacher.stops_for(Request(prompt="x")) == []


def test_stream_matches_generate(teacher):
    request = Request.user("Translate the following sentence to French.", max_tokens=12, temperature=0.0)
    assert "".join(teacher.stream(request)) == teacher.generate([request])[0].text


def test_trim_at_stop():
    assert trim_at_stop("abc</s>def", ["</s>", "d"]) == ("abc", True)
    assert trim_at_stop("abc", ["x"]) == ("abc", False)


def test_from_string(tiny_model_dir):
    assert from_string(f"hf:{tiny_model_dir}", batch_size=2).model_id.startswith("hf:")
    from seedtune.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown teacher kind"):
        from_string("nope:x")
    with pytest.raises(ConfigError, match="no kind prefix"):
        from_string("gpt-4o")
    with pytest.raises(ConfigError, match="base-url"):
        from_string(f"hf:{tiny_model_dir}", base_url="http://x")
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # CPU machines: a clear message, not an ImportError
        from seedtune.errors import SeedtuneError

        with pytest.raises(SeedtuneError, match="needs the vllm package"):
            from_string("vllm:some-model")


def test_top_logprobs_are_the_first_position_log_softmax(teacher):
    import math

    import torch

    requests = [Request.user(r.messages[-1][1], max_tokens=1, temperature=0.0, top_logprobs=5) for r in _requests()]
    batched = teacher.generate(requests)
    for request, completion in zip(requests, batched):
        text, special = teacher.render(request)
        ids = teacher.tokenizer(text, add_special_tokens=special)["input_ids"]
        with torch.inference_mode():
            logprobs = teacher.model(input_ids=torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)
        values, top_ids = logprobs.topk(5)
        expected: dict[str, float] = {}
        for value, token_id in zip(values.tolist(), top_ids.tolist()):
            piece = teacher.tokenizer.decode([token_id])
            expected[piece] = math.log(math.exp(expected[piece]) + math.exp(value)) if piece in expected else value
        (got,) = completion.top_logprobs
        assert got.keys() == expected.keys()
        assert all(got[k] == pytest.approx(expected[k], abs=1e-4) for k in got)  # left padding in a batch changes nothing
        assert all(v <= 0 for v in got.values())
    assert all(c.top_logprobs == [] for c in teacher.generate(_requests()[:2]))  # only when asked


def test_dtype_is_part_of_the_cache_identity(tiny_model_dir):
    from seedtune.evaluate.backends import open_model

    plain = HFTeacher(str(tiny_model_dir), batch_size=2)
    bf16 = HFTeacher(str(tiny_model_dir), batch_size=2, dtype="bfloat16")
    assert plain.model_id != bf16.model_id and bf16.model_id.endswith("[bfloat16]")
    fps = {open_model(str(tiny_model_dir), "m", dtype=d).fingerprint for d in (None, "float32", "bfloat16")}
    assert len(fps) == 3  # an eval in one dtype never reads answers cached in another


def test_answers_are_stored_as_each_batch_finishes_so_a_crash_keeps_them(tiny_model_dir, request_cache, monkeypatch):
    from seedtune.cache import CachedTeacher

    hf = HFTeacher(str(tiny_model_dir), batch_size=2)
    requests = _requests()
    stored: list[str] = []
    put = request_cache.put

    def put_then_die(model_id, request, completion):
        put(model_id, request, completion)
        stored.append(request.key(model_id))
        if len(stored) == 2:  # the process dies right after the first batch is stored
            raise KeyboardInterrupt

    monkeypatch.setattr(request_cache, "put", put_then_die)
    with pytest.raises(KeyboardInterrupt):
        CachedTeacher(hf, request_cache).generate(requests)
    assert len(request_cache) == 2  # stored before `generate` returned, not at the end of the call
    monkeypatch.setattr(request_cache, "put", put)
    again = CachedTeacher(hf, request_cache)
    out = again.generate(requests)
    assert again.hits == 2 and again.misses == 3 and len(request_cache) == 5
    assert [c.texts for c in out] == [c.texts for c in hf.generate(requests)]

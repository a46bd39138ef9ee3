"""Request cache additions: price table lookup, usage/cost accounting (cached and fresh), in-call dedupe."""

from __future__ import annotations

import math

import pytest

from seedtune.cache import CachedTeacher, PriceTable
from seedtune.errors import InputError
from seedtune.teachers import Request, ScriptedTeacher


def test_price_lookup_by_bare_model_name(tmp_path):
    table = PriceTable({"gpt-4o": {"input": 2.5, "output": 10.0}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}})
    assert table.cost("openai:gpt-4o@http://127.0.0.1:8000/v1", 1_000_000, 0) == pytest.approx(2.5)
    assert table.cost("openai:gpt-4o-mini-2024-07-18", 0, 1_000_000) == pytest.approx(0.6)  # longest prefix wins
    assert table.cost("hf:smollm2-135m-instruct", 10, 10) == 0.0
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o: {input: 2.5, outptu: 10}\n")
    with pytest.raises(InputError, match="gpt-4o"):
        PriceTable.load(path)


def test_usage_counts_cached_answers_fresh_counts_bought_ones(request_cache):
    inner = ScriptedTeacher(default="one two three", model_id="gpt-4o")
    teacher = CachedTeacher(inner, request_cache, prices=PriceTable({"gpt-4o": {"input": 1e6, "output": 1e6}}))
    a, b = Request.user("hello world"), Request.user("other words here")
    teacher.generate([a, b, a])  # the repeated request is sent once
    assert len(inner.seen) == 2 and teacher.misses == 2
    assert teacher.fresh["completion_tokens"] == 6 and teacher.usage["completion_tokens"] == 9
    assert teacher.usage["cost"] == pytest.approx(teacher.usage["prompt_tokens"] + 9)
    again = CachedTeacher(inner, request_cache, prices=teacher.prices)
    again.generate([a, b, a])
    assert len(inner.seen) == 2 and again.hits == 3 and again.fresh["cost"] == 0
    assert again.usage == teacher.usage  # a replay sees the same totals, so max_cost stops at the same place


def test_top_logprobs_survive_the_cache_and_plain_keys_do_not_change(request_cache):
    import hashlib
    import json
    from dataclasses import asdict

    teacher = ScriptedTeacher(default={"A": 0.75, "B": 0.25})
    cached = CachedTeacher(teacher, request_cache)
    request = Request.user("which?", max_tokens=1, top_logprobs=2)
    fresh = cached.generate([request])[0]
    again = cached.generate([request])[0]
    assert again.cached and again.top_logprobs == fresh.top_logprobs
    assert again.top_logprobs[0]["A"] == pytest.approx(math.log(0.75)) and again.text == "A"
    # A plain request is keyed as it was before `top_logprobs` existed, so old caches stay valid.
    plain = Request.user("which?")
    legacy = {k: v for k, v in asdict(plain).items() if k != "top_logprobs"}
    blob = json.dumps({"model": "m", **legacy}, ensure_ascii=False, sort_keys=True).encode("utf-8")
    assert plain.key("m") == hashlib.sha256(blob).hexdigest()
    assert request.key("m") != Request.user("which?", max_tokens=1).key("m")


def test_each_answer_is_committed_as_it_arrives_and_survives_sigkill(tmp_path):
    """The process dies mid-call, right after the third answer came back: those three are stored."""
    import signal
    import subprocess
    import sys
    import textwrap

    from seedtune.cache import RequestCache

    path = tmp_path / "requests.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from seedtune.cache import CachedTeacher, RequestCache
        from seedtune.teachers import Request, ScriptedTeacher

        answered = []
        def reply(request):
            if len(answered) == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # killed while the fourth request is in flight
            answered.append(request)
            return "answer"

        teacher = CachedTeacher(ScriptedTeacher(default=reply), RequestCache({str(path)!r}, sync_every=3600))
        teacher.generate([Request.user(f"q{{i}}") for i in range(10)])
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL
    cache = RequestCache(path)
    assert len(cache) == 3  # committed one by one, not when the call (or a time window) ended
    assert cache.get(Request.user("q2").key("scripted")).text == "answer"
    cache.close()

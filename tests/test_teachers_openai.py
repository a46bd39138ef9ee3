"""OpenAITeacher against a real HTTP server in a subprocess that injects faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from seedtune.errors import SeedtuneError
from seedtune.teachers import Request, from_string
from seedtune.teachers.openai_compat import OpenAITeacher, backoff_delay, retry_after

SERVER = Path(__file__).with_name("fake_openai_server.py")


@pytest.fixture
def fake_server():
    procs = []

    def start(*args: str) -> str:
        proc = subprocess.Popen([sys.executable, str(SERVER), *args], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        return f"http://127.0.0.1:{int(line.split()[1])}/v1"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/stats") as resp:
        return json.loads(resp.read())


def test_completes_through_faults_and_counts_them(fake_server, monkeypatch):
    monkeypatch.setenv("SEEDTUNE_TEST_KEY", "sk-secret-never-written")
    url = fake_server("--faults", "429,500,slow,truncated,nochoices", "--retry-after", "0.5", "--slow", "3")
    teacher = OpenAITeacher("fake-model", base_url=url, concurrency=1, timeout=1.0, backoff_base=0.01,
                            api_key_env="SEEDTUNE_TEST_KEY")
    requests = [Request.user(f"question {i}", max_tokens=8) for i in range(6)]
    started = time.monotonic()
    out = teacher.generate(requests)
    elapsed = time.monotonic() - started
    assert [c.text for c in out] == [f"echo: question {i}" for i in range(6)]
    assert dict(teacher.stats.retries) == {"rate_limit": 1, "server": 1, "timeout": 1, "invalid": 2}
    assert teacher.stats.requests == 6 and teacher.stats.http_calls == 11
    assert elapsed >= 0.5  # the Retry-After wait was honoured
    assert _stats(url)["received"] == 11
    assert all(c.key == r.key(teacher.model_id) for c, r in zip(out, requests))
    assert "sk-secret" not in repr(teacher) and "sk-secret" not in json.dumps(teacher.__dict__, default=str)


def test_concurrency_and_n_samples_and_raw_prompts(fake_server):
    url = fake_server("--latency", "1.0")
    teacher = from_string("openai:fake", base_url=url, concurrency=8)
    requests = [Request.user(f"q{i}", n=2) for i in range(12)] + [Request(prompt="raw text")]
    out = teacher.generate(requests)
    assert out[3].texts == ["echo: q3 #0", "echo: q3 #1"]
    assert out[-1].text == "echo: raw text"
    assert _stats(url)["max_inflight"] == 8  # never more than the limit, and the limit reached
    assert teacher.stats.completion_tokens > 0


def test_rate_limiter_spaces_requests_and_tokens():
    import asyncio

    from seedtune.teachers.openai_compat import RateLimiter

    async def run(limiter: RateLimiter, asks: list[int]) -> float:
        started = time.monotonic()
        for tokens in asks:
            await limiter.acquire(tokens)
        return time.monotonic() - started

    # 600 rpm: a one-minute bucket (600) passes at once, then 10 per second -> 5 more take ~0.5 s.
    assert asyncio.run(run(RateLimiter(rpm=600), [1] * 600)) < 0.3
    assert asyncio.run(run(RateLimiter(rpm=600), [1] * 605)) >= 0.4
    # 60k tpm: 1000 tokens/s after the bucket is spent.
    assert asyncio.run(run(RateLimiter(tpm=60_000), [60_000, 500])) >= 0.4


def test_client_errors_stop_with_a_hint(fake_server, monkeypatch):
    url = fake_server()
    teacher = OpenAITeacher("fake", base_url=url.replace("/v1", "/nope"), concurrency=1)
    with pytest.raises(SeedtuneError, match="HTTP 404"):
        teacher.generate([Request.user("x")])


def test_gives_up_after_max_retries(fake_server):
    url = fake_server("--faults", "500,500,500")
    teacher = OpenAITeacher("fake", base_url=url, max_retries=2, backoff_base=0.01)
    with pytest.raises(SeedtuneError, match="gave up after 3 attempts"):
        teacher.generate([Request.user("x")])


def test_missing_key_for_the_official_api(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SeedtuneError, match="OPENAI_API_KEY"):
        OpenAITeacher("gpt-4o-mini")


def test_backoff_and_retry_after_parsing():
    import random

    rng = random.Random(0)
    delays = [backoff_delay(a, 1.0, 8.0, rng) for a in range(10)]
    assert all(0 <= d <= min(8.0, 2 ** a) for a, d in enumerate(delays))
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({}) is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after({"retry-after": future}) <= 31


def test_top_logprobs_of_the_first_token_come_back(fake_server):
    url = fake_server()
    teacher = from_string("openai:fake", base_url=url)
    asked, plain = teacher.generate([Request.user("hello", max_tokens=1, top_logprobs=3), Request.user("hello")])
    assert asked.top_logprobs == [{"echo:": -0.1, "alt0": -3.0, "alt1": -4.0}]
    assert plain.top_logprobs == []  # not asked for, not sent


def test_vllm_serve_shaped_endpoint(fake_server):
    """What `vllm serve` does differently: `n` samples in one call, logprobs on chat and legacy
    completions, and a 400 (top-level message) when prompt + max_tokens exceed its context."""
    url = fake_server("--faults", "ok,ok,ok,ctx400")
    teacher = OpenAITeacher("served-model", base_url=url, concurrency=1, api_key_env="SEEDTUNE_NO_KEY_NEEDED")
    three = teacher.generate([Request.user("q", max_tokens=4, n=3)])[0]
    assert three.texts == ["echo: q #0", "echo: q #1", "echo: q #2"] and teacher.stats.http_calls == 1
    chat, raw = teacher.generate([Request.user("hello", max_tokens=1, top_logprobs=2),
                                  Request(prompt="hello", max_tokens=1, top_logprobs=2)])
    assert chat.top_logprobs == [{"echo:": -0.1, "alt0": -3.0}]
    assert raw.top_logprobs == [{"echo:": -0.1, "alt0": -3.0}]
    with pytest.raises(SeedtuneError, match="maximum context length is 2048") as info:
        teacher.generate([Request.user("long", max_tokens=512)])
    assert "--max-model-len" in info.value.hint
    assert teacher.stats.http_calls == 4  # a 400 is not retried

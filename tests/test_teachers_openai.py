"""OpenAITeacher against a real HTTP server in a subprocess that injects faults."""

from __future__ import annotations

import json
import time

import pytest

from seedtune.errors import SeedtuneError
from seedtune.teachers import Request, from_string
from seedtune.teachers.openai_compat import OpenAITeacher, backoff_delay, retry_after

from conftest import server_stats as _stats


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


class FakeClock:
    """Simulated time: `sleep` moves the clock to the sleeper's wake-up time instead of waiting.
    With several sleepers the clock may run ahead of one of them, so tests check the send times
    the limiter booked (what a perfect sleep would give), not the clock after waking."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


def _most_in_a_minute(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + 60) for t in times)


def test_rate_limiter_holds_in_every_sliding_minute():
    import asyncio

    from seedtune.teachers.openai_compat import RateLimiter

    clock = FakeClock()
    limiter = RateLimiter(rpm=5, tpm=1000, clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []

    async def ask(tokens: int) -> None:
        booking = await limiter.acquire(tokens)
        sent.append((booking[0], tokens))
        limiter.settle(booking, tokens)

    async def burst() -> None:
        await asyncio.gather(*(ask(t) for t in [100] * 12 + [600, 600, 900]))

    asyncio.run(burst())
    assert _most_in_a_minute([t for t, _ in sent]) == 5  # reached, never exceeded
    for t, _ in sent:
        assert sum(k for u, k in sent if t <= u < t + 60) <= 1000
    # A token bucket would have let the first 5 out at once and 5 more within the same minute.
    assert max(t for t, _ in sent) - min(t for t, _ in sent) >= 120


def test_rpm_holds_across_separate_generate_calls_and_teachers(fake_server, monkeypatch):
    """One limiter per (endpoint, model) for the process: three calls (as generation, the judge and
    evaluation would make them, each with its own teacher) never exceed rpm in any sliding minute."""
    from seedtune.teachers.openai_compat import shared_limiter

    url = fake_server()
    clock = FakeClock()
    limiter = shared_limiter(url, "limited-model", rpm=4, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    original = limiter.acquire

    async def booked(tokens):
        booking = await original(tokens)
        sent.append(booking[0])
        return booking

    monkeypatch.setattr(limiter, "acquire", booked)
    for call in range(3):
        teacher = OpenAITeacher("limited-model", base_url=url, concurrency=8, rpm=4 if call == 0 else None)
        out = teacher.generate([Request.user(f"call {call} q{i}") for i in range(5)])
        assert [c.text for c in out] == [f"echo: call {call} q{i}" for i in range(5)]
    assert len(sent) == 15
    assert _most_in_a_minute(sent) == 4
    assert max(sent) - min(sent) >= 180  # 15 requests at 4 per minute need three more minutes


def test_a_refused_request_is_an_error_completion_and_the_rest_go_on(fake_server):
    url = fake_server("--reject", "poison")
    teacher = OpenAITeacher("fake", base_url=url, concurrency=4, backoff_base=0.01)
    out = teacher.generate([Request.user("fine 1"), Request.user("poison pill"), Request.user("fine 2")])
    assert [c.text for c in out] == ["echo: fine 1", "", "echo: fine 2"]
    assert out[1].error.startswith("HTTP 400") and "context length" in out[1].error
    assert teacher.stats.refused == 1 and _stats(url)["served"]["400"] == 1  # not retried


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
    # A prompt over the served context is that record's problem: rejected with the reason, the run goes on.
    (refused,) = teacher.generate([Request.user("long", max_tokens=512)])
    assert refused.error and "maximum context length is 2048" in refused.error and "--max-model-len" in refused.error
    assert teacher.stats.http_calls == 4  # a 400 is not retried

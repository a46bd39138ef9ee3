"""A teacher for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp, `seedtune serve`).

Built on the official `openai` client (AsyncOpenAI) with its own retries switched off, because a
data-generation run needs more than the client's defaults: a concurrency limit, RPM/TPM rate
limits, exponential backoff with full jitter that honours `Retry-After`, and bad replies
(truncated or invalid JSON, no choices) retried and counted rather than crashing a long run.

The API key is read from the environment (`OPENAI_API_KEY`, or the variable `api_key_env`
names) each time a client is built; it is never stored on the teacher, in the cache, or in logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, OnResult, Request

DEFAULT_ENDPOINT = "https://api.openai.com/v1"
# Statuses that say "this request" is wrong (too long, refused by a content filter, malformed), not
# the run: the record is rejected with the reason and the run goes on.
PER_REQUEST_STATUSES = (400, 413, 422)


class _Refused(Exception):
    """The provider refused this one request; retrying would get the same answer."""


class _Retryable(Exception):
    """A failure worth another attempt; `cause` names it in the stats, `wait` is the server's wish."""

    def __init__(self, cause: str, detail: str = "", wait: float | None = None):
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.wait = wait


@dataclass
class TeacherStats:
    """What a run cost in calls: requests sent, retries by cause, tokens, failures."""

    requests: int = 0
    http_calls: int = 0
    retries: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_usage: int = 0
    length_finishes: int = 0
    refused: int = 0  # requests the provider refused (HTTP 400/413/422): rejected, not retried

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "http_calls": self.http_calls, "retries": dict(self.retries),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "estimated_usage": self.estimated_usage, "length_finishes": self.length_finishes,
                "refused": self.refused}


class RateLimiter:
    """Requests/minute and tokens/minute over a sliding 60 s window, for the life of the process.

    Each request reserves a send time: the earliest moment at which it is still true that no 60 s
    window holds more than `rpm` requests or `tpm` tokens (an estimate of prompt + max_tokens x n,
    replaced by the real usage in `settle`). A token bucket would not do: it starts full, so a
    fresh bucket lets `rpm` requests out at once, and right after a burst it refills into a second
    minute's worth within the same sliding minute. Reservations sit behind a thread lock, not an
    asyncio lock, so one limiter serves every event loop and thread (`generate` runs a new loop per
    call). `clock` and `sleep` can be replaced, so a test can check the limit in simulated time.
    """

    WINDOW = 60.0

    def __init__(self, rpm: float | None = None, tpm: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] | None = None):
        self.rpm, self.tpm = rpm, tpm
        self.clock = clock
        self.sleep = sleep or asyncio.sleep
        self._lock = threading.Lock()
        self._sent: deque[list[float]] = deque()  # [reserved send time, tokens], in send order

    def tighten(self, rpm: float | None, tpm: float | None) -> None:
        """Another caller of the same endpoint and model names limits: the stricter ones hold."""
        with self._lock:
            self.rpm = min(x for x in (self.rpm, rpm) if x) if (self.rpm or rpm) else None
            self.tpm = min(x for x in (self.tpm, tpm) if x) if (self.tpm or tpm) else None

    def reserve(self, tokens: int) -> list[float] | None:
        """Book the earliest allowed send time for a request of `tokens`; None when nothing is limited."""
        if not self.rpm and not self.tpm:
            return None
        with self._lock:
            tokens = min(tokens, int(self.tpm)) if self.tpm else tokens  # a request larger than the limit must still pass
            start = max(self.clock(), self._sent[-1][0] if self._sent else 0.0)
            while self._sent and self._sent[0][0] <= start - self.WINDOW:
                self._sent.popleft()
            per_window = max(1, int(self.rpm or 0))
            if self.rpm and len(self._sent) >= per_window:
                start = max(start, self._sent[-per_window][0] + self.WINDOW)
            if self.tpm:
                in_window = [entry for entry in self._sent if entry[0] > start - self.WINDOW]
                used = sum(entry[1] for entry in in_window)
                for entry in in_window:  # wait for the oldest to leave the window until this one fits
                    if used + tokens <= self.tpm:
                        break
                    used -= entry[1]
                    start = max(start, entry[0] + self.WINDOW)
            booking = [start, float(tokens)]
            self._sent.append(booking)
            return booking

    async def acquire(self, tokens: int) -> list[float] | None:
        booking = self.reserve(tokens)
        if booking is not None:
            delay = booking[0] - self.clock()
            if delay > 0:
                await self.sleep(delay)
        return booking

    def settle(self, booking: list[float] | None, actual: int) -> None:
        """The request used `actual` tokens (0 when it failed before the server counted any)."""
        if booking is not None:
            with self._lock:
                booking[1] = float(actual)


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(endpoint: str, model: str, rpm: float | None = None, tpm: float | None = None,
                   **kw: Any) -> RateLimiter:
    """The one limiter of (endpoint, model) in this process: generation, curation and evaluation
    teachers of the same model share it, so their requests add up against the same limits."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((endpoint, model))
        if limiter is None:
            limiter = _LIMITERS[(endpoint, model)] = RateLimiter(rpm, tpm, **kw)
            return limiter
    limiter.tighten(rpm, tpm)
    return limiter


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "full jitter": uniform in [0, min(cap, base * 2**attempt)].

    Full jitter spreads retrying clients apart best (Brooker, "Exponential Backoff And Jitter",
    AWS Architecture Blog, 2015).
    """
    return rng.uniform(0, min(cap, base * 2 ** attempt))


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `Retry-After` (seconds or HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class OpenAITeacher:
    """Teacher over an OpenAI-compatible HTTP API; `generate` runs the requests concurrently."""

    def __init__(self, model: str, base_url: str | None = None, concurrency: int = 8, rpm: float | None = None,
                 tpm: float | None = None, max_retries: int = 6, timeout: float = 120.0, backoff_base: float = 1.0,
                 backoff_cap: float = 60.0, api_key_env: str = "OPENAI_API_KEY", seed: int = 0):
        self.model = model
        self.base_url = base_url
        self.model_id = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.concurrency = max(1, int(concurrency))
        self.rpm, self.tpm = rpm, tpm
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.api_key_env = api_key_env
        self.stats = TeacherStats()
        self.limiter = shared_limiter(base_url or DEFAULT_ENDPOINT, model, rpm, tpm)
        self._rng = random.Random(seed)  # jitter only; never affects answers
        self._check_key()

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def _check_key(self) -> None:
        if not os.environ.get(self.api_key_env) and not self.base_url:
            raise SeedtuneError(f"no API key: the environment variable {self.api_key_env} is not set",
                                hint=f"export {self.api_key_env}=... (the key is read from the environment only), "
                                     "or point --base-url at a server that needs none")

    def _client(self) -> Any:
        from openai import AsyncOpenAI

        # Servers such as vLLM or llama.cpp accept any key; the client insists on a non-empty one.
        key = os.environ.get(self.api_key_env) or "not-needed"
        return AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout)

    # -- public API ----------------------------------------------------------------------------

    def generate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        """Answer every request (in input order), at most `concurrency` in flight; `on_result` hears
        of each answer as it arrives, while its request still holds its concurrency slot."""
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests, on_result))
        # Called from inside an event loop (e.g. a server): run ours on a private thread.
        box: list[Any] = []
        thread = threading.Thread(
            target=lambda: box.append(_capture(lambda: asyncio.run(self.agenerate(requests, on_result)))))
        thread.start()
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    async def agenerate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        client = self._client()
        gate = asyncio.Semaphore(self.concurrency)
        try:
            async def one(index: int, request: Request) -> Completion:
                async with gate:
                    completion = await self._complete(client, self.limiter, request)
                    if on_result is not None:
                        on_result(index, completion)  # stored before the slot frees: in flight until then
                    return completion

            return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))
        finally:
            await client.close()

    # -- one request ---------------------------------------------------------------------------

    async def _complete(self, client: Any, limiter: RateLimiter, request: Request) -> Completion:
        """All n samples of one request; servers that ignore `n` are topped up with more calls."""
        texts: list[str] = []
        finishes: list[str] = []
        tops: list[dict[str, float]] = []
        prompt_tokens = completion_tokens = 0
        while len(texts) < max(1, request.n):
            try:
                got, p_tok, c_tok = await self._with_retries(client, limiter, request, max(1, request.n) - len(texts))
            except _Refused as exc:
                self.stats.refused += 1
                return Completion(texts=[], key=request.key(self.model_id), error=str(exc))
            for text, finish, top in got:
                texts.append(text)
                finishes.append(finish)
                if top is not None:
                    tops.append(top)
            prompt_tokens = max(prompt_tokens, p_tok)
            completion_tokens += c_tok
        self.stats.requests += 1
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += completion_tokens
        self.stats.length_finishes += finishes.count("length")
        return Completion(texts=texts[: max(1, request.n)], prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, finish_reasons=finishes[: max(1, request.n)],
                          key=request.key(self.model_id), top_logprobs=tops[: max(1, request.n)])

    async def _with_retries(self, client: Any, limiter: RateLimiter, request: Request, n: int) -> tuple[list[tuple[str, str, dict[str, float] | None]], int, int]:
        estimate = _estimate_prompt_tokens(request) + request.max_tokens * n
        attempt = 0
        while True:
            booking = await limiter.acquire(estimate)
            try:
                self.stats.http_calls += 1
                result = await self._call(client, request, n)
                limiter.settle(booking, result[1] + result[2])
                return result
            except _Refused:
                limiter.settle(booking, 0)
                raise
            except _Retryable as exc:
                limiter.settle(booking, 0)
                if attempt >= self.max_retries:
                    raise SeedtuneError(f"{self.model_id}: gave up after {attempt + 1} attempts ({exc})",
                                        hint="check the server, lower --concurrency, or raise max_retries") from exc
                self.stats.retries[exc.cause] += 1
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
                if exc.wait is not None:
                    delay = max(delay, exc.wait)
                attempt += 1
                await asyncio.sleep(delay)

    async def _call(self, client: Any, request: Request, n: int) -> tuple[list[tuple[str, str, dict[str, float] | None]], int, int]:
        """One HTTP call; every failure is either a `_Retryable` or a `SeedtuneError` to stop on."""
        import openai

        params: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens,
                                  "temperature": request.temperature, "top_p": request.top_p}
        if n > 1:
            params["n"] = n
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop:
            params["stop"] = list(request.stop)[:4]  # the API accepts at most four
        if request.top_logprobs:
            # Chat takes logprobs=True + top_logprobs (at most 20); legacy completions take logprobs=k (at most 5).
            if request.prompt is None:
                params.update(logprobs=True, top_logprobs=min(request.top_logprobs, 20))
            else:
                params["logprobs"] = min(request.top_logprobs, 5)
        try:
            if request.prompt is not None:
                response = await client.completions.create(prompt=request.prompt, **params)
            else:
                response = await client.chat.completions.create(messages=request.message_dicts(), **params)
        except openai.RateLimitError as exc:
            raise _Retryable("rate_limit", str(exc)[:200], retry_after(exc.response.headers)) from exc
        except openai.APITimeoutError as exc:
            raise _Retryable("timeout", str(exc)[:200]) from exc
        except openai.APIConnectionError as exc:
            raise _Retryable("connection", str(exc)[:200]) from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status >= 500 or status in (408, 409):
                raise _Retryable("server", f"HTTP {status}", retry_after(exc.response.headers)) from exc
            if status in PER_REQUEST_STATUSES:
                detail = _short(exc)
                if "context length" in detail.lower():
                    # vLLM (and OpenAI) refuse prompt + max_tokens beyond the served context window.
                    detail += ("; lower max_tokens or shorten the prompt, or serve the model with a longer "
                               "context (vllm serve --max-model-len N)")
                raise _Refused(f"HTTP {status}: {detail}") from exc
            hint = {401: f"check the key in ${self.api_key_env}", 403: "the key may lack access to this model",
                    404: "check the model name and --base-url (it usually ends in /v1)"}.get(status, "check the request parameters")
            raise SeedtuneError(f"{self.model_id}: HTTP {status}: {_short(exc)}", hint=hint) from exc
        except (json.JSONDecodeError, ValueError, openai.APIResponseValidationError) as exc:
            raise _Retryable("invalid", f"unparseable reply: {type(exc).__name__}") from exc
        return self._parse(response, request)

    def _parse(self, response: Any, request: Request) -> tuple[list[tuple[str, str, dict[str, float] | None]], int, int]:
        choices = getattr(response, "choices", None)
        if isinstance(response, str) or not choices:
            raise _Retryable("invalid", "reply has no choices")
        got = []
        for choice in choices:
            text = choice.text if request.prompt is not None else getattr(choice.message, "content", None)
            if text is None:
                raise _Retryable("invalid", "a choice has no text")
            got.append((text, choice.finish_reason or "stop", _first_top_logprobs(choice, request)))
        usage = getattr(response, "usage", None)
        if usage is not None and usage.completion_tokens is not None:
            return got, int(usage.prompt_tokens or 0), int(usage.completion_tokens)
        self.stats.estimated_usage += 1
        return got, _estimate_prompt_tokens(request), sum(math.ceil(len(t) / 4) for t, _ in got)


def _first_top_logprobs(choice: Any, request: Request) -> dict[str, float] | None:
    """{token: logprob} of the first generated position, or None when not asked for or not sent
    (many OpenAI-compatible servers ignore `logprobs`; the judge then reports the reply unparsed)."""
    if not request.top_logprobs:
        return None
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return {}
    if request.prompt is None:
        content = getattr(logprobs, "content", None) or []
        if not content:
            return {}
        first = content[0]
        merged: dict[str, float] = {}
        for alt in (getattr(first, "top_logprobs", None) or []) + [first]:
            merged.setdefault(alt.token, float(alt.logprob))
        return merged
    tops = getattr(logprobs, "top_logprobs", None) or []
    return {str(k): float(v) for k, v in (tops[0] or {}).items()} if tops else {}


def _estimate_prompt_tokens(request: Request) -> int:
    """~4 characters per token: only for rate limiting and servers that report no usage."""
    chars = len(request.prompt or "") + sum(len(c) + 4 for _, c in request.messages)
    return math.ceil(chars / 4)


def _short(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else body.get("message")
        if message:
            return str(message)[:300]
    return str(exc)[:300]


def _capture(fn: Any) -> tuple[bool, Any]:
    try:
        return True, fn()
    except BaseException as exc:  # re-raised in the caller's thread
        return False, exc

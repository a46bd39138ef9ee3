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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, Request

LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "[::1]")


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

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "http_calls": self.http_calls, "retries": dict(self.retries),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "estimated_usage": self.estimated_usage, "length_finishes": self.length_finishes}


class RateLimiter:
    """Token buckets for requests/minute and tokens/minute (refilled continuously).

    A request asks for 1 request slot and an estimate of its tokens up front (prompt chars / 4 +
    max_tokens * n); `settle` puts back what the real usage did not spend.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.rpm, self.tpm = rpm, tpm
        self._requests = float(rpm or 0)
        self._tokens = float(tpm or 0)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed, self._stamp = now - self._stamp, now
        if self.rpm:
            self._requests = min(self.rpm, self._requests + elapsed * self.rpm / 60)
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + elapsed * self.tpm / 60)

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        tokens = min(tokens, int(self.tpm)) if self.tpm else tokens  # a request larger than the bucket must still pass
        async with self._lock:
            while True:
                self._refill()
                need_r = 1 - self._requests if self.rpm else 0
                need_t = tokens - self._tokens if self.tpm else 0
                if need_r <= 0 and need_t <= 0:
                    if self.rpm:
                        self._requests -= 1
                    if self.tpm:
                        self._tokens -= tokens
                    return
                wait = max(need_r * 60 / self.rpm if self.rpm else 0, need_t * 60 / self.tpm if self.tpm else 0)
                await asyncio.sleep(min(max(wait, 0.001), 5.0))

    def settle(self, estimated: int, actual: int) -> None:
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + estimated - actual)


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
        self._rng = random.Random(seed)  # jitter only; never affects answers
        self._check_key()

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def _is_local(self) -> bool:
        return bool(self.base_url) and any(h in self.base_url for h in LOCAL_HOSTS)

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

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Answer every request (in input order), at most `concurrency` in flight."""
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests))
        # Called from inside an event loop (e.g. a server): run ours on a private thread.
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(_capture(lambda: asyncio.run(self.agenerate(requests)))))
        thread.start()
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    async def agenerate(self, requests: Sequence[Request]) -> list[Completion]:
        client = self._client()
        limiter = RateLimiter(self.rpm, self.tpm)
        gate = asyncio.Semaphore(self.concurrency)
        try:
            async def one(request: Request) -> Completion:
                async with gate:
                    return await self._complete(client, limiter, request)

            return list(await asyncio.gather(*(one(r) for r in requests)))
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
            got, p_tok, c_tok = await self._with_retries(client, limiter, request, max(1, request.n) - len(texts))
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
            await limiter.acquire(estimate)
            try:
                self.stats.http_calls += 1
                result = await self._call(client, request, n)
                limiter.settle(estimate, result[1] + result[2])
                return result
            except _Retryable as exc:
                limiter.settle(estimate, 0)
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
            hint = {401: f"check the key in ${self.api_key_env}", 403: "the key may lack access to this model",
                    404: "check the model name and --base-url (it usually ends in /v1)"}.get(status, "check the request parameters")
            if status == 400 and "context length" in _short(exc).lower():
                # vLLM (and OpenAI) refuse prompt + max_tokens beyond the served context window.
                hint = ("lower max_tokens or shorten the prompt, or serve the model with a longer context "
                        "(vllm serve --max-model-len N)")
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

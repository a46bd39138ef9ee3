"""The FastAPI application: OpenAI-compatible routes over one teacher, behind the batcher.

`create_app(teacher, model_name)` works with any `Teacher`: `HFTeacher` in production (it renders
chat messages with the model's saved prompt format, so the server answers exactly as the model
was trained), `ScriptedTeacher` in tests. Token counts and the context-length check use the
teacher's tokenizer when it has one.

Order of checks on every request: API key (401), body size (413), body parse (400 bad JSON /
422 bad schema), model name (404), parameter values and prompts x n (400). Then the request joins
the batcher's queue (503 when full) and waits at most `limits.request_timeout` (504); a client
that disconnects meanwhile has its job cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request as HTTPRequest
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from seedtune.errors import SeedtuneError
import seedtune.serve.protocol as p
from seedtune.serve.batcher import Batcher, BatchJob, Event, QueueFull, rows_of, sample_requests
from seedtune.serve.limits import ServeLimits
from seedtune.teachers.base import Completion, Request, Teacher


class _Engine:
    """What the routes need to know about the model besides generating: token counts, context size."""

    def __init__(self, teacher: Teacher):
        self.teacher = teacher
        self.tokenizer = getattr(teacher, "tokenizer", None)
        config = getattr(getattr(teacher, "model", None), "config", None)
        self.context_length: int | None = getattr(config, "max_position_embeddings", None)

    def prompt_tokens(self, request: Request) -> int:
        render = getattr(self.teacher, "render", None)
        if self.tokenizer is None or render is None:
            return sum(len(c.split()) for _, c in request.messages) + len((request.prompt or "").split())
        text, special = render(request)
        return len(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def fit(self, request: Request, explicit_max: bool, index: int = 0) -> tuple[Request, int]:
        """(request with max_tokens that fits the context, prompt tokens); 400 when it cannot fit."""
        try:
            used = self.prompt_tokens(request)
        except (SeedtuneError, ValidationError) as exc:  # e.g. a chat template that rejects the roles' order
            message = exc.message if isinstance(exc, SeedtuneError) else str(exc).splitlines()[0]
            raise p.APIError(400, f"the model's prompt format cannot render these messages: {message}",
                             param="messages" if request.prompt is None else "prompt") from exc
        if used == 0:
            raise p.APIError(400, f"prompt{f' {index}' if index else ''} is empty: it has no tokens to continue from",
                             param="prompt")
        if self.context_length is None:
            return request, used
        room = self.context_length - used
        if room < 1 or (explicit_max and request.max_tokens > room):
            raise p.APIError(400, f"this model's context is {self.context_length} tokens; the prompt"
                                  f"{f' {index}' if index else ''} uses {used} and max_tokens asks for "
                                  f"{request.max_tokens if explicit_max else 'at least 1'} more: shorten the "
                                  "prompt or lower max_tokens", param="max_tokens" if room >= 1 else ("messages" if request.prompt is None else "prompt"),
                             code="context_length_exceeded")
        if request.max_tokens > room:
            request = dataclasses.replace(request, max_tokens=room)
        return request, used


def create_app(teacher: Teacher, model_name: str, *, api_key: str | None = None, max_batch: int = 8,
               batch_window_ms: float = 25.0, aliases: Sequence[str] = (), limits: ServeLimits | None = None) -> FastAPI:
    """The server for one model. `api_key` (if set) must come as `Authorization: Bearer <key>`."""
    limits = limits or ServeLimits()
    batcher = Batcher(teacher, max_batch=max_batch, window_ms=batch_window_ms, max_queue=limits.max_queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="seedtune serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    app.state.model_name = model_name
    app.state.limits = limits
    _add_error_handlers(app, limits)
    _add_routes(app, _Routes(_Engine(teacher), batcher, [model_name, *aliases], api_key, limits))
    return app


def _add_error_handlers(app: FastAPI, limits: ServeLimits) -> None:
    """Every error in OpenAI's shape: {"error": {message, type, param, code}}."""

    @app.exception_handler(p.APIError)
    async def _api_error(_: HTTPRequest, exc: p.APIError) -> JSONResponse:
        busy = exc.status in (429, 503)
        return JSONResponse(exc.body(), status_code=exc.status,
                            headers={"Retry-After": str(limits.retry_after)} if busy else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: HTTPRequest, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(p.error_body(str(exc.detail), param=None, code=code), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _server_error(_: HTTPRequest, exc: Exception) -> JSONResponse:
        return JSONResponse(p.error_body(f"generation failed: {exc}", type="server_error"), status_code=500)


def _add_routes(app: FastAPI, routes: "_Routes") -> None:
    app.get("/health")(routes.health)
    app.get("/v1/models")(routes.list_models)
    app.get("/v1/models/{model_id:path}")(routes.get_model)
    app.get("/stats")(routes.stats)
    app.post("/v1/chat/completions")(routes.chat_completions)
    app.post("/v1/completions")(routes.completions)


class _Routes:
    """The route handlers of one server: they share the engine, the batcher, the served names,
    the API key and the limits."""

    def __init__(self, engine: _Engine, batcher: Batcher, names: Sequence[str], api_key: str | None,
                 limits: ServeLimits):
        self.engine, self.batcher, self.api_key, self.limits = engine, batcher, api_key, limits
        self.names = list(dict.fromkeys(names))  # the model's name first, then its aliases
        self.created = int(time.time())

    def authorize(self, request: HTTPRequest) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise p.APIError(401, "missing API key: send the header 'Authorization: Bearer <key>'",
                             code="invalid_api_key")
        # Constant-time comparison, and the key never appears in a message or a log line.
        if not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise p.APIError(401, "incorrect API key", code="invalid_api_key")

    async def parse(self, request: HTTPRequest, model: type[BaseModel]) -> Any:
        """The request body as `model`, after the key, size, JSON, schema and model-name checks."""
        self.authorize(request)
        try:
            data = json.loads(await _read_body(request, self.limits.max_body_bytes) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise p.APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise p.APIError(422, "the request body must be a JSON object", code="unprocessable_entity")
        try:
            body = model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = _param(first["loc"])
            raise p.APIError(422, f"{param}: {first['msg']}" if param else first["msg"], param=param,
                             code="unprocessable_entity") from exc
        if body.model not in self.names:
            raise p.APIError(404, f"the model {body.model!r} does not exist; this server serves {self.names[0]!r} "
                                  "(GET /v1/models lists it)", param="model", code="model_not_found")
        p.refuse_unsupported(body)
        return body

    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    async def list_models(self, request: HTTPRequest) -> dict[str, Any]:
        self.authorize(request)
        return {"object": "list", "data": [p.model_card(self.names[0], self.created)]}

    async def get_model(self, model_id: str, request: HTTPRequest) -> dict[str, Any]:
        self.authorize(request)
        if model_id not in self.names:
            raise p.APIError(404, f"the model {model_id!r} does not exist", param="model", code="model_not_found")
        return p.model_card(self.names[0], self.created)

    async def stats(self, request: HTTPRequest) -> dict[str, Any]:
        """How well batching works: generate calls and sequences per call (not part of OpenAI's API)."""
        self.authorize(request)
        return self.batcher.stats.to_dict()

    async def chat_completions(self, request: HTTPRequest) -> Any:
        body: p.ChatCompletionBody = await self.parse(request, p.ChatCompletionBody)
        explicit = body.max_tokens is not None or body.max_completion_tokens is not None
        req, prompt_tokens = self.engine.fit(p.chat_request(body), explicit)
        _check_sequences([req], self.limits)
        if body.stream:
            return _stream(self.batcher, self.engine, "chat", body.model, [req], [prompt_tokens],
                           p.include_usage(body), self.limits)
        completions = await _answer(request, self.batcher, [req], self.limits)
        return p.chat_response(p.new_id("chatcmpl"), body.model, _choices(completions),
                               *_counts(completions, prompt_tokens=[prompt_tokens]))

    async def completions(self, request: HTTPRequest) -> Any:
        body: p.CompletionBody = await self.parse(request, p.CompletionBody)
        requests = p.completion_requests(body)
        _check_sequences(requests, self.limits)  # before tokenizing: a huge list must not cost its encoding
        fitted = [self.engine.fit(r, body.max_tokens is not None, i) for i, r in enumerate(requests)]
        reqs, prompt_tokens = [f[0] for f in fitted], [f[1] for f in fitted]
        if body.stream:
            return _stream(self.batcher, self.engine, "text", body.model, reqs, prompt_tokens,
                           p.include_usage(body), self.limits)
        done = await _answer(request, self.batcher, reqs, self.limits)
        return p.completion_response(p.new_id("cmpl"), body.model, _choices(done),
                                     *_counts(done, prompt_tokens=prompt_tokens))


async def _read_body(request: HTTPRequest, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes: from its
    Content-Length before reading anything, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise p.APIError(413, f"the request body is {int(declared)} bytes; this server takes at most {limit}",
                         code="request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise p.APIError(413, f"the request body exceeds {limit} bytes, the most this server takes",
                             code="request_too_large")
    return bytes(body)


def _check_sequences(requests: Sequence[Request], limits: ServeLimits) -> None:
    rows = rows_of(requests)
    if rows > limits.max_sequences:
        raise p.APIError(400, f"this request asks for {rows} sequences (prompts x n); this server generates at "
                              f"most {limits.max_sequences} per request: send fewer prompts or a smaller n",
                         param="n", code="too_many_sequences")


def _submit(submit: Any, *args: Any) -> Any:
    try:
        return submit(*args)
    except QueueFull as exc:
        raise p.APIError(503, str(exc), code="server_busy") from exc


async def _answer(request: HTTPRequest, batcher: Batcher, requests: list[Request], limits: ServeLimits) -> list[Completion]:
    """Wait for the batcher's answer; cancel the job when the client disconnects (nobody would
    read it) or the request runs past its timeout (504)."""
    job: BatchJob = _submit(batcher.submit_job, requests)
    answer = asyncio.wrap_future(job.future)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.request_timeout
    try:
        while True:
            done, _ = await asyncio.wait({answer}, timeout=max(0.0, min(0.25, deadline - loop.time())))
            if done:
                return answer.result()
            if await request.is_disconnected():  # nobody will read the answer (nginx's 499 in the log)
                raise p.APIError(499, "the client closed the connection; the generation was stopped",
                                 code="client_closed_request")
            if loop.time() >= deadline:
                raise p.APIError(504, f"no answer within {limits.request_timeout:g} s; the generation was stopped",
                                 code="timeout", type="server_error")
    finally:
        if not answer.done():
            job.cancel()
            answer.cancel()


def _param(loc: Sequence[Any]) -> str | None:
    """Dotted field path of a validation error, without pydantic's union-member tags ('str', 'list[str]')."""
    parts = [str(x) for x in loc if not re.fullmatch(r"(str|int|float|bool|none|list\[.*\]|dict\[.*\])", str(x))]
    return ".".join(parts) or None


def _choices(completions: list[Completion]) -> list[tuple[str, str]]:
    """Flattened in request-major order: choice index = request index * n + sample index."""
    return [(text, reason) for c in completions
            for text, reason in zip(c.texts, c.finish_reasons or ["stop"] * len(c.texts))]


def _counts(completions: list[Completion], prompt_tokens: list[int]) -> tuple[int, int]:
    """Prompt tokens are counted once per prompt (not per sample), as OpenAI does."""
    return sum(prompt_tokens), sum(c.completion_tokens for c in completions)


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def _stream(batcher: Batcher, engine: _Engine, kind: str, model: str, requests: list[Request],
            prompt_tokens: list[int], with_usage: bool, limits: ServeLimits) -> StreamingResponse:
    """Server-sent events in OpenAI's chunk format, ending with `data: [DONE]`.

    Each sequence is streamed in turn (choice index = request index * n + sample). Its finish
    reason is "length" when it used all of max_tokens, else "stop"; token counts come from
    re-tokenizing the streamed text, since the teacher's stream yields text, not ids.
    """
    sequences = [s for r in requests for s in sample_requests(r)]
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Event] = asyncio.Queue()

    def emit(event: Event) -> None:  # called on the worker thread
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the event loop is gone (server shutting down): nobody is listening
            pass

    job = _submit(batcher.submit_stream, sequences, emit)
    deadline = loop.time() + limits.request_timeout
    rid = p.new_id("chatcmpl" if kind == "chat" else "cmpl")
    created = int(time.time())

    def chunk(index: int | None, text: str | None = None, finish: str | None = None,
              counts: dict[str, int] | None = None, role: bool = False) -> dict[str, Any]:
        if kind == "chat":
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            return p.chat_chunk(rid, model, created, index, delta, finish, counts)
        return p.completion_chunk(rid, model, created, index, text or "", finish, counts)

    async def body() -> AsyncIterator[str]:
        completion_tokens = 0
        started: set[int] = set()
        try:
            while True:
                try:
                    event, index, payload = await asyncio.wait_for(events.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    yield _sse(p.error_body(f"no answer within {limits.request_timeout:g} s; the generation was stopped",
                                            type="server_error", code="timeout"))
                    return
                if event == "error":
                    yield _sse(p.error_body(f"generation failed: {payload}", type="server_error"))
                    return
                if event == "done":
                    break
                if kind == "chat" and index not in started:
                    started.add(index)
                    yield _sse(chunk(index, role=True))
                if event == "piece":
                    yield _sse(chunk(index, text=payload))
                else:  # "end"
                    used = engine.count(payload)
                    completion_tokens += used
                    finish = "length" if used >= sequences[index].max_tokens else "stop"
                    yield _sse(chunk(index, finish=finish))
            if with_usage:
                yield _sse(chunk(None, counts=p.usage(sum(prompt_tokens), completion_tokens)))
            yield _sse("[DONE]")
        finally:  # client gone or stream finished: stop generating what nobody will read
            job.cancel()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""The OpenAI wire format as `seedtune serve` speaks it: request bodies, checks, responses, errors.

Two kinds of bad request get two status codes, as the issue asks: a body that does not match the
schema at all (not JSON, a missing field, a string where a number goes) is 422; a well-formed
body with a value we cannot honour (temperature 3, n=0, an unknown role, a prompt longer than
the model's context, a feature we do not implement such as tools) is 400 and names the `param`.
Every error has OpenAI's shape `{"error": {"message", "type", "param", "code"}}`, so the official
client raises its usual exception classes (BadRequestError, AuthenticationError, ...).

Fields OpenAI defines that do not change the answer (`user`, `metadata`, `store`) are accepted and
ignored; fields that would change it and that we cannot do (tools, logprobs, penalties) are
refused rather than silently dropped.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from seedtune.teachers.base import Request

# OpenAI's own ranges (API reference: chat/completions).
MAX_STOP = 4
MAX_N = 16
DEFAULT_MAX_TOKENS = 256


class APIError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _ERROR_TYPES.get(status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


_ERROR_TYPES = {401: "authentication_error", 404: "invalid_request_error", 500: "server_error",
                503: "server_error"}


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class _Body(BaseModel):
    # Unknown fields are kept (then checked in `refuse_unsupported`) so newer clients that send
    # harmless extras still work.
    model_config = ConfigDict(extra="allow")

    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionBody(_Body):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None


class CompletionBody(_Body):
    prompt: str | list[str]
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None
    logprobs: int | None = None


# Fields that would change the answer and that seedtune serve does not implement: refused when set
# to anything but their neutral value.
_UNSUPPORTED = {
    "tools": (None, []), "tool_choice": (None, "none"), "functions": (None, []), "function_call": (None, "none"),
    "logprobs": (None, False, 0), "top_logprobs": (None, 0), "logit_bias": (None, {}),
    "presence_penalty": (None, 0, 0.0), "frequency_penalty": (None, 0, 0.0),
    "echo": (None, False), "suffix": (None, ""), "best_of": (None, 1), "audio": (None,), "modalities": (None, ["text"]),
    "prediction": (None,),
}


def refuse_unsupported(body: _Body) -> None:
    values = {**body.model_dump(exclude_unset=True), **(body.model_extra or {})}
    for name, neutral in _UNSUPPORTED.items():
        if name in values and values[name] not in neutral:
            raise APIError(400, f"'{name}' is not supported by seedtune serve", param=name, code="unsupported_parameter")
    response_format = values.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise APIError(400, "only response_format {'type': 'text'} is supported by seedtune serve",
                       param="response_format", code="unsupported_parameter")


def sampling_params(body: _Body, max_tokens: int | None) -> dict[str, Any]:
    """The Request fields shared by both endpoints, range-checked. OpenAI's defaults: temperature 1, top_p 1."""
    temperature = 1.0 if body.temperature is None else float(body.temperature)
    if not 0.0 <= temperature <= 2.0:
        raise APIError(400, f"temperature must be between 0 and 2, got {temperature}", param="temperature")
    top_p = 1.0 if body.top_p is None else float(body.top_p)
    if not 0.0 < top_p <= 1.0:
        raise APIError(400, f"top_p must be in (0, 1], got {top_p}", param="top_p")
    n = 1 if body.n is None else body.n
    if not 1 <= n <= MAX_N:
        raise APIError(400, f"n must be between 1 and {MAX_N}, got {n}", param="n")
    if max_tokens is not None and max_tokens < 1:
        raise APIError(400, f"max_tokens must be at least 1, got {max_tokens}", param="max_tokens")
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOP:
        raise APIError(400, f"at most {MAX_STOP} stop sequences are allowed, got {len(stops)}", param="stop")
    if any(not s for s in stops):
        raise APIError(400, "stop sequences must be non-empty strings", param="stop")
    return {"temperature": temperature, "top_p": top_p, "n": n, "seed": body.seed, "stop": tuple(stops),
            "max_tokens": max_tokens or DEFAULT_MAX_TOKENS}


def _text_content(message: ChatMessage, index: int) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(400, f"messages[{index}]: only text content parts are supported, got {part.get('type')!r}",
                           param=f"messages[{index}].content")
        parts.append(part["text"])
    return "".join(parts)


def chat_messages(body: ChatCompletionBody) -> list[dict[str, str]]:
    """The conversation as plain role/content dicts; `developer` is OpenAI's newer name for `system`."""
    if not body.messages:
        raise APIError(400, "messages must contain at least one message", param="messages")
    out = []
    for index, message in enumerate(body.messages):
        role = "system" if message.role == "developer" else message.role
        if role not in ("system", "user", "assistant"):
            raise APIError(400, f"messages[{index}].role {message.role!r} is not supported "
                                "(use system, developer, user or assistant)", param=f"messages[{index}].role")
        out.append({"role": role, "content": _text_content(message, index)})
    if out[-1]["role"] == "assistant":
        # The prompt format treats a final assistant turn as the training target and drops it, so
        # answering would silently ignore it: refuse instead.
        raise APIError(400, "the last message must not be from the assistant (prefilling an answer is not supported)",
                       param=f"messages[{len(out) - 1}].role")
    return out


def chat_request(body: ChatCompletionBody) -> Request:
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    return Request.chat(chat_messages(body), **sampling_params(body, max_tokens))


def completion_requests(body: CompletionBody) -> list[Request]:
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts:
        raise APIError(400, "prompt must not be an empty list", param="prompt")
    params = sampling_params(body, body.max_tokens if body.max_tokens is not None else 16)  # OpenAI's default is 16
    return [Request(prompt=p, **params) for p in prompts]


def include_usage(body: _Body) -> bool:
    return bool((body.stream_options or {}).get("include_usage"))


# -- responses --------------------------------------------------------------------------------


def new_id(kind: Literal["chatcmpl", "cmpl"]) -> str:
    return f"{kind}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def model_card(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "seedtune"}


def chat_response(rid: str, model: str, choices: list[tuple[str, str]], prompt_tokens: int,
                  completion_tokens: int) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": reason} for i, (text, reason) in enumerate(choices)],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def completion_response(rid: str, model: str, choices: list[tuple[str, str]], prompt_tokens: int,
                        completion_tokens: int) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
        "choices": [{"index": i, "text": text, "logprobs": None, "finish_reason": reason}
                    for i, (text, reason) in enumerate(choices)],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chat_chunk(rid: str, model: str, created: int, index: int | None, delta: dict[str, Any] | None = None,
               finish_reason: str | None = None, usage_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk`; `index=None` gives the final usage-only chunk (choices empty)."""
    choice = None if index is None else {"index": index, "delta": delta or {}, "logprobs": None,
                                          "finish_reason": finish_reason}
    return _chunk("chat.completion.chunk", rid, model, created, choice, usage_counts)


def completion_chunk(rid: str, model: str, created: int, index: int | None, text: str = "",
                     finish_reason: str | None = None, usage_counts: dict[str, int] | None = None) -> dict[str, Any]:
    choice = None if index is None else {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
    return _chunk("text_completion", rid, model, created, choice, usage_counts)


def _chunk(kind: str, rid: str, model: str, created: int, choice: dict[str, Any] | None,
           usage_counts: dict[str, int] | None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": rid, "object": kind, "created": created, "model": model,
                             "choices": [] if choice is None else [choice]}
    if usage_counts is not None:
        chunk["usage"] = usage_counts
    return chunk

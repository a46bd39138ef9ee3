"""The Teacher protocol, its request/completion types, and the scripted teacher used in tests."""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from seedtune.errors import SeedtuneError


@dataclass(frozen=True)
class Request:
    """One chat request. `prompt` (raw text completion) is used instead of `messages` when set."""

    messages: tuple[tuple[str, str], ...] = ()
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Ask for the `top_logprobs` most likely first tokens and their log-probabilities (a judge
    # reads its verdict from them instead of parsing free text). 0: not wanted.
    top_logprobs: int = 0

    @classmethod
    def chat(cls, messages: Sequence[dict[str, str]], **params: Any) -> "Request":
        return cls(messages=tuple((m["role"], m["content"]) for m in messages),
                   **{k: tuple(v) if k == "stop" else v for k, v in params.items()})

    @classmethod
    def user(cls, text: str, system: str | None = None, **params: Any) -> "Request":
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return cls.chat(msgs, **params)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key(self, model_id: str) -> str:
        """Cache key: hash of model id + messages/prompt + every sampling parameter + seed + n."""
        payload = {"model": model_id, **asdict(self)}
        if not self.top_logprobs:
            del payload["top_logprobs"]  # keys of plain requests stay what they were before the field existed
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()


@dataclass
class Completion:
    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)
    cached: bool = False
    key: str = ""
    # Per sample, when the request asked for top_logprobs: {token text: log-probability} of the
    # most likely first tokens (tokens that decode to the same text are merged).
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    # Why the provider refused this one request (e.g. "HTTP 400: context too long"); the texts are
    # then empty. Such a completion is never cached: the caller rejects its record and goes on.
    error: str | None = None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Called with (request index, completion) the moment one answer is complete, before `generate`
# returns: the request cache commits it there, so a kill loses only the requests still in flight.
OnResult = Callable[[int, Completion], None]


@runtime_checkable
class Teacher(Protocol):
    model_id: str

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Answer every request, in order. Implementations batch or run concurrently inside.

        Implementations may also accept `on_result: OnResult | None = None` and call it once per
        request as soon as that answer is complete (`streams_results` tells whether one does)."""
        ...


def streams_results(teacher: Teacher) -> bool:
    """Whether `teacher.generate` takes `on_result` (reports each answer as it arrives)."""
    import inspect

    try:
        return "on_result" in inspect.signature(teacher.generate).parameters
    except (TypeError, ValueError):
        return False


def generate_streaming(teacher: Teacher, requests: Sequence[Request], on_result: OnResult) -> list[Completion]:
    """`teacher.generate(requests)`, reporting each answer through `on_result` as soon as the teacher
    can (teachers that cannot stream report them all when the call returns)."""
    if streams_results(teacher):
        return teacher.generate(requests, on_result=on_result)  # type: ignore[call-arg]
    completions = teacher.generate(requests)
    for index, completion in enumerate(completions):
        on_result(index, completion)
    return completions


Reply = str | dict[str, float] | Callable[[Request], "str | dict[str, float]"]


class ScriptedTeacher:
    """Replays queued replies in order — deterministic tests without a model.

    `enqueue("text")` queues a fixed answer; `enqueue(fn)` computes one from the request. With
    `default` set, an empty queue answers with it instead of failing. `seen` records requests.
    A reply may be a {token: probability} dict, for requests that ask for `top_logprobs`: the
    text is then the most likely token. A plain text reply to such a request has probability 1.
    """

    def __init__(self, replies: Sequence[Reply] = (), model_id: str = "scripted", default: Reply | None = None):
        self.model_id = model_id
        self.queue: deque[Reply] = deque(replies)
        self.default = default
        self.seen: list[Request] = []

    def enqueue(self, *replies: Reply) -> "ScriptedTeacher":
        self.queue.extend(replies)
        return self

    def _next(self, request: Request) -> str | dict[str, float]:
        if self.queue:
            reply = self.queue.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise SeedtuneError("scripted teacher ran out of replies", hint="enqueue more replies in the test")
        return reply(request) if callable(reply) else reply

    def generate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        out = []
        for index, request in enumerate(requests):
            self.seen.append(request)
            replies = [self._next(request) for _ in range(request.n)]
            texts = [max(r, key=r.get) if isinstance(r, dict) else r for r in replies]
            tops = []
            if request.top_logprobs:
                tops = [{t: math.log(p) for t, p in r.items() if p > 0} if isinstance(r, dict) else {r: 0.0}
                        for r in replies]
            out.append(Completion(texts=texts, prompt_tokens=sum(len(c.split()) for _, c in request.messages),
                                  completion_tokens=sum(len(t.split()) for t in texts),
                                  finish_reasons=["stop"] * len(texts), key=request.key(self.model_id),
                                  top_logprobs=tops))
            if on_result is not None:
                on_result(index, out[-1])
        return out

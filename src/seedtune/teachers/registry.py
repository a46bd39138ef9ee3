"""Teacher strings -> teachers: `hf:NAME_OR_PATH`, `openai:MODEL` (+ base_url), `vllm:NAME`.

The one place a teacher string is read (`parse`) and the one opener every stage uses
(`open_teacher`: generate, curation's judge, evaluation's models and judge, chat). A small
registry rather than an if-chain, so a plugin can add its own kind with `register` and that kind
works in every stage. Each factory gets every option the caller has and keeps those it supports
(a local model ignores `concurrency`, an endpoint ignores `batch_size`), so no caller classifies
a string by its prefix. Implementations import lazily: naming an OpenAI teacher never imports
torch, and vLLM is only imported on machines that have it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedtune.errors import ConfigError
from seedtune.teachers.base import Teacher

Factory = Callable[..., Teacher]


@dataclass(frozen=True)
class Kind:
    factory: Factory
    # an endpoint takes `base_url` (the local kinds refuse one); local kinds load weights from a
    # directory; `logprobs`: its replies carry first-token probabilities a judge can read.
    endpoint: bool = False
    local: bool = False
    logprobs: bool = False


_KINDS: dict[str, Kind] = {}


def register(prefix: str, factory: Factory, *, endpoint: bool = False, local: bool = False,
             logprobs: bool = False) -> None:
    """Make `prefix:NAME` build a teacher with `factory(NAME, base_url=..., **options)`, in every stage.

    `options` are the ones the stage has set (batch_size, dtype, device, concurrency, rpm, tpm,
    timeout, api_key_env); a factory takes `**kw` and keeps what it understands."""
    _KINDS[prefix] = Kind(factory, endpoint=endpoint, local=local, logprobs=logprobs)


@dataclass(frozen=True)
class TeacherSpec:
    """A parsed teacher string: `kind` is a registered prefix, `name` the rest."""

    kind: str
    name: str
    text: str  # as the user wrote it

    @property
    def info(self) -> Kind:
        return _KINDS[self.kind]


def parse(spec: str, *, bare: str | None = None) -> TeacherSpec:
    """Read a teacher string once. A bare existing directory means `hf:` that directory; another
    bare name is an error unless `bare` names the kind it defaults to (eval: `hf`, so
    `--model gemma-3-270m` works)."""
    prefix, sep, name = spec.partition(":")
    if sep and prefix in _KINDS:
        if not name:
            raise ConfigError(f"teacher {spec!r} names no model", key="teacher", hint=f"write {prefix}:MODEL_NAME")
        return TeacherSpec(prefix, name, spec)
    if Path(spec).is_dir():
        return TeacherSpec("hf", spec, spec)
    if sep and not bare and prefix.replace("-", "_").isidentifier() and len(prefix) > 1:
        raise ConfigError(f"unknown teacher kind {prefix!r} in {spec!r}", key="teacher",
                          hint=f"known kinds: {', '.join(_KINDS)}")
    if bare:
        return TeacherSpec(bare, spec, spec)
    raise ConfigError(f"teacher {spec!r} has no kind prefix", key="teacher",
                      hint=f"write one of {', '.join(p + ':NAME' for p in _KINDS)}, "
                           "e.g. hf:smollm2-135m-instruct or openai:gpt-4o-mini")


def open_teacher(spec: str | TeacherSpec, *, base_url: str | None = None, **options: Any) -> Teacher:
    """The teacher a spec names, built with the options its kind supports (unset ones dropped)."""
    parsed = spec if isinstance(spec, TeacherSpec) else parse(spec)
    kind = parsed.info
    if base_url and not kind.endpoint:
        raise ConfigError(f"--base-url only applies to endpoint teachers (openai:), not {parsed.kind}:",
                          key="teacher", hint="to use a server, write --teacher openai:MODEL --base-url URL")
    given = {k: v for k, v in options.items() if v is not None}
    return kind.factory(parsed.name, base_url=base_url, **given)


def from_string(spec: str, base_url: str | None = None, **kw: Any) -> Teacher:
    """Build the teacher a string names (`open_teacher` under its older name)."""
    return open_teacher(spec, base_url=base_url, **kw)


def _hf(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.transformers import HFTeacher

    return HFTeacher(name, **{k: v for k, v in kw.items() if k in ("batch_size", "dtype", "device", "prompt_format")})


_OPENAI_OPTIONS = ("concurrency", "rpm", "tpm", "timeout", "api_key_env", "max_retries")


def _openai(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.openai_compat import OpenAITeacher

    return OpenAITeacher(name, base_url=base_url, **{k: v for k, v in kw.items() if k in _OPENAI_OPTIONS})


def _vllm(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.vllm import VLLMTeacher

    return VLLMTeacher(name, **{k: v for k, v in kw.items() if k in ("dtype",)})


register("hf", _hf, local=True, logprobs=True)
register("openai", _openai, endpoint=True)
register("vllm", _vllm, local=True, logprobs=True)

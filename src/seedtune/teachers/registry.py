"""Teacher strings -> teachers: `hf:NAME_OR_PATH`, `openai:MODEL` (+ base_url), `vllm:NAME`.

A small registry rather than an if-chain, so a plugin can add its own prefix with `register`.
Implementations import lazily: naming an OpenAI teacher never imports torch, and vLLM is only
imported on machines that have it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seedtune.errors import ConfigError
from seedtune.teachers.base import Teacher

Factory = Callable[..., Teacher]
_FACTORIES: dict[str, Factory] = {}


def register(prefix: str, factory: Factory) -> None:
    """Make `prefix:NAME` build a teacher with `factory(NAME, base_url=..., **kw)`."""
    _FACTORIES[prefix] = factory


def _hf(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.transformers import HFTeacher

    _no_base_url("hf", base_url)
    allowed = {k: v for k, v in kw.items() if k in ("batch_size", "dtype", "device") and v is not None}
    return HFTeacher(name, **allowed)


def _openai(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.openai_compat import OpenAITeacher

    return OpenAITeacher(name, base_url=base_url, **{k: v for k, v in kw.items() if k != "batch_size" and k != "dtype"})


def _vllm(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.vllm import VLLMTeacher

    _no_base_url("vllm", base_url)
    return VLLMTeacher(name, **{k: v for k, v in kw.items() if k in ("dtype",) and v is not None})


def _no_base_url(kind: str, base_url: str | None) -> None:
    if base_url:
        raise ConfigError(f"--base-url only applies to openai: teachers, not {kind}:", key="teacher",
                          hint="to use a server, write --teacher openai:MODEL --base-url URL")


register("hf", _hf)
register("openai", _openai)
register("vllm", _vllm)


def from_string(spec: str, base_url: str | None = None, **kw: Any) -> Teacher:
    """Build the teacher a string names. A bare existing directory means `hf:` that directory."""
    prefix, sep, name = spec.partition(":")
    if not sep:
        if Path(spec).is_dir():
            return _FACTORIES["hf"](spec, base_url=base_url, **kw)
        raise ConfigError(f"teacher {spec!r} has no kind prefix", key="teacher",
                          hint=f"write one of {', '.join(p + ':NAME' for p in _FACTORIES)}, "
                               "e.g. hf:smollm2-135m-instruct or openai:gpt-4o-mini")
    if prefix not in _FACTORIES:
        raise ConfigError(f"unknown teacher kind {prefix!r} in {spec!r}", key="teacher",
                          hint=f"known kinds: {', '.join(_FACTORIES)}")
    if not name:
        raise ConfigError(f"teacher {spec!r} names no model", key="teacher", hint=f"write {prefix}:MODEL_NAME")
    return _FACTORIES[prefix](name, base_url=base_url, **kw)

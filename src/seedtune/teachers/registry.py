"""Teacher strings -> teachers: `hf:NAME_OR_PATH`, `llamacpp:NAME_OR_PATH`, `openai:MODEL` (+ base_url), `vllm:NAME`.

The one place a teacher string is read (`parse`) and the one opener every stage uses
(`open_teacher`: generate, curation's judge, evaluation's models and judge, chat). A small
registry rather than an if-chain, so a plugin can add its own kind with `register` and that kind
works in every stage. Each factory gets every option the caller has and keeps those it supports
(a local model ignores `concurrency`, an endpoint ignores `batch_size`), so no caller classifies
a string by its prefix. Implementations import lazily: naming an OpenAI teacher never imports
torch, and vLLM is only imported on machines that have it.

Engines: `hf:NAME` names a local model; the `engine` option says what runs it. `hf` is
transformers (always there), `llamacpp` is llama.cpp (`llama-cpp-python`, optional, several times
faster on CPU: see `bench/generate.py`), and `auto` (the default of generate's teacher; eval defaults to `hf`)
takes llama.cpp when it is installed, no CUDA GPU is there, and the architecture has a GGUF writer,
else transformers. `llamacpp:NAME` forces llama.cpp. Callers that pass no engine get transformers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedtune.errors import ConfigError, SeedtuneError
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


ENGINES = ("auto", "hf", "llamacpp")


def choose_engine(name_or_path: str, engine: str = "auto", device: str | None = None) -> tuple[str, str]:
    """(engine, why) for a local model: `hf` or `llamacpp`. Forcing `llamacpp` where it cannot run is
    an error; `auto` falls back to transformers and says why."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", key="engine", hint=f"use one of: {', '.join(ENGINES)}")
    if engine == "hf":
        return "hf", "engine: hf"
    from seedtune.teachers.llamacpp import INSTALL_HINT

    blocker = None
    if importlib.util.find_spec("llama_cpp") is None:
        blocker = "llama-cpp-python is not installed"
    elif engine == "auto" and _on_gpu(device):
        blocker = "a CUDA GPU is there (transformers runs on it; llama-cpp-python here is a CPU build)"
    else:
        from seedtune.models import resolve_model
        from seedtune.models.gguf import unsupported

        blocker = unsupported(resolve_model(name_or_path))
    if blocker is None:
        return "llamacpp", f"engine: {engine}"
    if engine == "llamacpp":
        raise SeedtuneError(f"the llama.cpp engine cannot run {name_or_path}: {blocker}",
                            hint=INSTALL_HINT if "installed" in blocker else "use engine: hf")
    return "hf", f"engine: auto, {blocker}"


def _on_gpu(device: str | None) -> bool:
    """Whether transformers would run on a CUDA GPU (the device asked for, else whether one is there)."""
    if device is not None:
        return device.startswith("cuda")
    import torch

    return bool(torch.cuda.is_available())


def _hf(name: str, base_url: str | None = None, engine: str = "hf", **kw: Any) -> Teacher:
    """A local model on the engine `engine` picks (see the module docstring)."""
    chosen, why = choose_engine(name, engine, kw.get("device"))
    if chosen == "llamacpp":
        from seedtune.teachers.llamacpp import LlamaCppTeacher

        teacher: Any = LlamaCppTeacher(name, **{k: v for k, v in kw.items()
                                                if k in ("batch_size", "dtype", "prompt_format", "threads")})
    else:
        from seedtune.teachers.transformers import HFTeacher

        teacher = HFTeacher(name, **{k: v for k, v in kw.items() if k in ("batch_size", "dtype", "device", "prompt_format")})
    teacher.stats["engine_choice"] = why
    return teacher


def _llamacpp(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    return _hf(name, base_url, **{**kw, "engine": "llamacpp"})


_OPENAI_OPTIONS = ("concurrency", "rpm", "tpm", "timeout", "api_key_env", "max_retries")


def _openai(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.openai_compat import OpenAITeacher

    return OpenAITeacher(name, base_url=base_url, **{k: v for k, v in kw.items() if k in _OPENAI_OPTIONS})


def _vllm(name: str, base_url: str | None = None, **kw: Any) -> Teacher:
    from seedtune.teachers.vllm import VLLMTeacher

    return VLLMTeacher(name, **{k: v for k, v in kw.items() if k in ("dtype",)})


register("hf", _hf, local=True, logprobs=True)
register("llamacpp", _llamacpp, local=True, logprobs=True)
register("openai", _openai, endpoint=True)
register("vllm", _vllm, local=True, logprobs=True)

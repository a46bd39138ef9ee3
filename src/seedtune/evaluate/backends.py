"""The models under evaluation, as teachers with a prompt format and a content fingerprint.

Local models (a directory, an embedded default name, `hf:NAME` or `llamacpp:NAME`) are answered by
the engine `engine` picks (`teachers.registry.choose_engine`: llama.cpp where it is installed, else
transformers; recorded in scores.json's model description) with raw prompts rendered from the
model's own prompt format; endpoint models (`openai:MODEL`,
`vllm:NAME`) receive chat messages. Every model is wrapped in `CachedTeacher` under an id that
includes a fingerprint of its weights, config and prompt format, so a rerun (or a resumed run)
regenerates nothing, while a retrained model in the same directory is never served stale answers.
Local weights are loaded lazily: a fully cached rerun never loads the model at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.models.info import fingerprint_dir
from seedtune.prompts.formats import AlpacaFormat, PromptFormat, for_model, load_format
from seedtune.teachers import Completion, Request, Teacher
from seedtune.teachers.base import OnResult, generate_streaming

class LazyTeacher:
    """A teacher built on first use, under a fixed `model_id` (the fingerprinted one)."""

    def __init__(self, model_id: str, factory: Callable[[], Teacher]):
        self.model_id = model_id
        self._factory = factory
        self._teacher: Teacher | None = None

    @property
    def loaded(self) -> Teacher | None:
        return self._teacher

    def generate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        if self._teacher is None:
            self._teacher = self._factory()
        if on_result is None:
            return self._teacher.generate(requests)
        return generate_streaming(self._teacher, requests, on_result)


@dataclass
class EvalModel:
    label: str  # short display name, unique within a run
    spec: str  # what the user wrote
    teacher: Teacher  # fingerprinted (and cached, when a cache is used)
    fmt: PromptFormat | None  # None: chat endpoint, send messages
    directory: Path | None
    fingerprint: str
    engine: str = ""  # what runs a local model (hf, llamacpp) and why; "" for endpoints

    @property
    def format_name(self) -> str:
        return "messages" if self.fmt is None else self.fmt.type

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "spec": self.spec, "fingerprint": self.fingerprint,
                "prompt_format": self.format_name, "directory": self.directory.name if self.directory else None,
                "engine": self.engine or None}


def resolve_dir(spec: str) -> Path | None:
    """Local directory of a model spec, or None for a model behind another teacher kind (an
    endpoint, vLLM, a registered plugin). A bare name is an `hf:` model name or directory."""
    from seedtune.models import resolve_model
    from seedtune.teachers import parse

    parsed = parse(spec, bare="hf")
    if parsed.kind not in ("hf", "llamacpp"):
        return None
    if Path(parsed.name).is_dir():
        return Path(parsed.name)
    return Path(resolve_model(parsed.name))


def choose_format(directory: Path, prefer: str = "auto") -> PromptFormat:
    """The saved prompt format, else the chat template for chat models, else Alpaca (base models)."""
    saved = load_format(directory) if prefer in ("auto", "saved") else None
    if saved is not None:
        return saved
    if prefer == "saved":
        raise SeedtuneError(f"{directory.name} has no saved prompt format (prompt_format.json)",
                            hint="use prompt_format=auto to fall back to the chat template or Alpaca")
    if prefer == "alpaca":
        return AlpacaFormat()
    from seedtune.models.loading import load_tokenizer

    tokenizer = load_tokenizer(directory)
    return for_model(tokenizer, "chat" if prefer == "chat" else "auto")


def open_model(spec: str, label: str, *, prefer_format: str = "auto", batch_size: int = 32, dtype: str | None = None,
               base_url: str | None = None, teacher: Teacher | None = None, cache: Any = None,
               prices: Any = None, budget: Any = None, engine: str = "auto") -> EvalModel:
    """Resolve `spec` to an `EvalModel`; `teacher` overrides the backend (tests, custom servers).
    Endpoint models are counted at `prices` and held to `budget` (local ones cost nothing)."""
    from seedtune.cache import CachedTeacher
    from seedtune.teachers import parse
    from seedtune.teachers.registry import choose_engine

    directory = None
    if teacher is None or Path(spec).is_dir():
        directory = resolve_dir(spec)
    fmt: PromptFormat | None = choose_format(directory, prefer_format) if directory else None
    chosen, why = "", ""
    if directory is not None and teacher is None:
        forced = "llamacpp" if parse(spec, bare="hf").kind == "llamacpp" else engine
        chosen, why = choose_engine(str(directory), forced)
    if directory is not None:
        fp = fingerprint_dir(directory)
        # The dtype and the engine change the answers (bf16 drifts from fp32, llama.cpp's kernels
        # round differently), so answers cached under one must not be served for another. Unset
        # dtype and transformers keep the keys older runs used.
        extra = (f"|{dtype}" if dtype else "") + ("|llamacpp" if chosen == "llamacpp" else "")
        fp = hashlib.sha256((fp + json.dumps(fmt.to_dict(), sort_keys=True) + extra).encode()).hexdigest()[:16]
    else:
        fp = hashlib.sha256(f"{spec}|{base_url}".encode()).hexdigest()[:16]
    model_id = f"eval:{spec if directory is None else directory.name}@{fp}"

    if teacher is not None:
        inner: Teacher = LazyTeacher(model_id, lambda: teacher)
    elif directory is not None:
        def build() -> Teacher:
            from seedtune.teachers import open_teacher

            return open_teacher(f"{chosen}:{directory}", batch_size=batch_size, dtype=dtype, prompt_format=fmt)

        inner = LazyTeacher(model_id, build)
    else:
        from seedtune.teachers import open_teacher

        inner = LazyTeacher(model_id, lambda: open_teacher(spec, base_url=base_url, batch_size=batch_size, dtype=dtype))
    paid = directory is None and prices is not None
    wrapped = inner
    if cache is not None or paid:
        wrapped = CachedTeacher(inner, cache, prices=prices if paid else None, budget=budget if paid else None)
    return EvalModel(label=label, spec=spec, teacher=wrapped, fmt=fmt, directory=directory, fingerprint=fp,
                     engine=f"{chosen} ({why})" if chosen else "")


def labels_for(specs: Sequence[str], given: Sequence[str] = ()) -> list[str]:
    """Short unique display names: the given ones, else the directory / model names."""
    from seedtune.teachers import parse

    if given:
        if len(given) != len(specs) or len(set(given)) != len(given):
            raise SeedtuneError("--label must be given once per --model, with distinct names")
        return list(given)
    names = []
    for spec in specs:
        base = parse(spec, bare="hf").name.rstrip("/")
        parts = Path(base).parts
        name = parts[-1] if parts else base
        if name in ("model", "merged", "adapter", "final") and len(parts) > 1:
            name = f"{parts[-2]}/{name}"
        names.append(name)
    out = []
    for i, name in enumerate(names):
        out.append(name if names.count(name) == 1 else f"{name}#{i + 1}")
    return out

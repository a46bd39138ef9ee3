"""What every generation method shares: teacher setup, seeds, templates, resumable output, progress.

How a run survives SIGKILL: every method is a deterministic function of (inputs, config, the
teacher's answers). All randomness comes from `derive_seed(seed, round, position)`, never from
global RNG state, and every teacher answer is committed to the request cache before it is used.
A rerun of the same command therefore replays the same decisions — stored answers come from the
cache, so nothing is requested twice — and `ReplaySink` appends only the records beyond those
the output file already holds. The result equals an uninterrupted run, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.errors import InputError, SeedtuneError
from seedtune.io import JsonlAppender, write_json
from seedtune.records import Record
from seedtune.teachers.base import Completion, Request, Teacher

LANGS = ("en", "zh")


class TeacherConfig(StrictModel):
    """Which teacher answers, how hard we may push it, and what we may spend."""

    teacher: str = Field("hf:smollm2-135m-instruct", description="Teacher string: hf:NAME_OR_PATH, openai:MODEL or vllm:NAME.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint for openai: teachers, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never stored).")
    concurrency: int = Field(8, ge=1, description="Requests in flight at once (openai: teachers).")
    batch_size: int = Field(8, ge=1, description="Sequences per forward batch (hf: teachers).")
    dtype: str | None = Field(None, description="Weights dtype for hf:/vllm: teachers: float32 (default) or bfloat16 (about 2x faster batched on CPUs with AVX-512 bf16).")
    rpm: float | None = Field(None, gt=0, description="Requests-per-minute limit (openai: teachers).")
    tpm: float | None = Field(None, gt=0, description="Tokens-per-minute limit (openai: teachers).")
    timeout: float = Field(120.0, gt=0, description="Seconds before one HTTP request is abandoned and retried.")
    cache: str | None = Field(None, description="Request cache file (SQLite); default: the seedtune cache directory.")
    prices: str | None = Field(None, description="YAML/JSON price table {model: {input: $/1M, output: $/1M}} for cost reports.")
    max_cost: float | None = Field(None, gt=0, description="Stop cleanly once the run's answers cost this much (needs prices).")


def derive_seed(seed: int, *parts: Any) -> int:
    """A 63-bit seed from the run seed and a position, e.g. (seed, round, request index)."""
    blob = ":".join(str(p) for p in (seed, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & 0x7FFFFFFFFFFFFFFF


def rng_for(seed: int, *parts: Any) -> random.Random:
    return random.Random(derive_seed(seed, *parts))


# -- templates --------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def template_text(name: str, lang: str) -> str:
    """The text of `templates/<lang>/<name>.j2` shipped in this package."""
    if lang not in LANGS:
        raise SeedtuneError(f"no templates for language {lang!r}", hint=f"use one of: {', '.join(LANGS)}")
    path = resources.files("seedtune.generate").joinpath("templates", lang, f"{name}.j2")
    if not path.is_file():
        raise SeedtuneError(f"missing template {lang}/{name}.j2", hint="reinstall seedtune; the package is incomplete")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _prose_sandbox() -> Any:
    """Jinja's immutable sandbox without `trim_blocks`: in prose prompts every newline is meant."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined)


def render_text(template: str, **context: Any) -> str:
    """Render template text in the sandbox; a missing variable is an error, not an empty string."""
    from jinja2 import TemplateError

    try:
        return _prose_sandbox().from_string(template).render(**context).strip()
    except TemplateError as exc:
        raise SeedtuneError(f"prompt template failed to render: {exc}", hint="check the template's variables") from exc


def render(name: str, lang: str, **context: Any) -> str:
    """Render the packaged prompt template `name` in language `lang`; surrounding whitespace trimmed."""
    return render_text(template_text(name, lang), **context)


def pick_lang(setting: str, text: str) -> str:
    """'auto' follows the text's language (Chinese -> zh templates, anything else -> en)."""
    if setting != "auto":
        return setting
    from seedtune.textsim import detect_lang

    return "zh" if detect_lang(text) == "zh" else "en"


# -- teacher ----------------------------------------------------------------------------------------


def open_teacher(config: TeacherConfig, teacher: Teacher | None = None) -> Any:
    """The configured teacher (or the one given, for tests and library use) behind the request cache."""
    from seedtune.cache import CachedTeacher, PriceTable, RequestCache

    if config.max_cost is not None and not config.prices:
        raise SeedtuneError("--max-cost needs a price table to know what answers cost",
                            hint="pass --prices prices.yaml with {MODEL: {input: $/1M, output: $/1M}}")
    if teacher is None:
        from seedtune.teachers import open_teacher as open_spec

        # Every option goes to the teacher's kind, which keeps what it supports: a directory
        # keeps its batch_size/dtype, a plugin kind gets what it asks for.
        teacher = open_spec(config.teacher, base_url=config.base_url, batch_size=config.batch_size,
                            dtype=config.dtype, concurrency=config.concurrency, rpm=config.rpm, tpm=config.tpm,
                            timeout=config.timeout, api_key_env=config.api_key_env)
    prices = PriceTable.load(config.prices) if config.prices else None
    return CachedTeacher(teacher, RequestCache(config.cache), prices=prices)


# -- resumable output -------------------------------------------------------------------------------


class ReplaySink:
    """Append-only JSONL that a replayed run writes into without duplicating what is already there.

    The i-th record a run emits must equal the i-th row of an existing file (same id); those are
    skipped, later ones appended and fsynced per batch. A mismatch means the file came from a
    different command, and we stop rather than mix two runs.
    """

    def __init__(self, path: Path):
        self.path = path
        self.appender = JsonlAppender(path)
        self.existing_ids = [row.get("id") for row in self.appender.existing()]
        self.position = 0
        self.appended = 0

    def emit(self, records: Sequence[Record]) -> None:
        new = []
        for record in records:
            if self.position < len(self.existing_ids):
                if self.existing_ids[self.position] != record.id:
                    raise InputError(f"row {self.position + 1} differs from what this command generates, so the "
                                     "file was made by a different command or seed", path=self.path,
                                     line=self.position + 1,
                                     hint="write to a new output file, or delete this one to start over")
            else:
                new.append(record)
            self.position += 1
        if new:
            self.appender.append_batch(new)
            self.appended += len(new)

    @property
    def resumed(self) -> int:
        return min(self.position, len(self.existing_ids))

    def close(self) -> None:
        self.appender.close()


def side_path(out: Path, kind: str) -> Path:
    """`pool.jsonl` -> `pool.rejected.jsonl` / `pool.stats.json`."""
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.stem
    return out.with_name(f"{stem}.{kind}")


def rejected(record: Record, reason: str, **detail: Any) -> Record:
    """The record with why it was dropped (kept in the rejected file, never silently lost)."""
    return record.with_(meta={**record.meta, "rejected": reason, **({"detail": detail} if detail else {})})


# -- the run ----------------------------------------------------------------------------------------


class Run:
    """One generation run: the cached teacher, the two sinks, counters, budget and progress."""

    def __init__(self, method: str, out: str | Path, config: TeacherConfig, teacher: Teacher | None = None,
                 progress: bool = True, total: int | None = None):
        out = Path(out)
        if not out.name.endswith(".jsonl"):
            raise InputError("generation writes append-only JSONL so an interrupted run can resume", path=out,
                             hint="name the output *.jsonl (convert it afterwards with `seedtune data convert`)")
        self.method = method
        self.out = out
        self.config = config
        self.teacher = open_teacher(config, teacher)
        self.accepted = ReplaySink(out)
        self.rejected = ReplaySink(side_path(out, "rejected.jsonl"))
        self.reasons: Counter[str] = Counter()
        self.stopped_for: str | None = None
        self.started = time.monotonic()
        self._progress = _Progress(method, total) if progress else None

    @property
    def teacher_id(self) -> str:
        return self.teacher.model_id

    def ask(self, requests: Sequence[Request]) -> list[Completion]:
        """Answers for a batch (cache first); the cost budget is checked after every batch."""
        completions = self.teacher.generate(requests)
        max_cost = self.config.max_cost
        if max_cost is not None and self.teacher.usage["cost"] >= max_cost and self.stopped_for is None:
            self.stopped_for = f"max_cost {max_cost} reached (spent {self.teacher.usage['cost']:.4f})"
        self._update()
        return completions

    def should_stop(self) -> bool:
        return self.stopped_for is not None

    def keep(self, records: Sequence[Record]) -> None:
        self.accepted.emit(records)
        self._update()

    def drop(self, records: Sequence[Record]) -> None:
        for record in records:
            self.reasons[record.meta.get("rejected", "unknown")] += 1
        self.rejected.emit(records)
        self._update()

    def _update(self) -> None:
        if self._progress:
            self._progress.update(self.accepted.position, self.rejected.position, self.teacher.usage)

    def finish(self, **extra: Any) -> dict[str, Any]:
        """Close the files and write `<out>.stats.json`; returns the same summary."""
        self.accepted.close()
        self.rejected.close()
        if self._progress:
            self._progress.close()
        kept = self.accepted.position
        usage = self.teacher.usage
        inner = getattr(self.teacher.teacher, "stats", None)
        summary = {
            "method": self.method, "output": self.out.name, "teacher": self.teacher_id,
            "accepted": kept, "rejected": self.rejected.position, "rejected_by_reason": dict(self.reasons),
            "resumed_rows": self.accepted.resumed, "appended_rows": self.accepted.appended,
            "tokens": {"prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"]},
            "cost": round(usage["cost"], 6) if self.config.prices else None,
            "cost_per_kept": round(usage["cost"] / kept, 6) if self.config.prices and kept else None,
            "spent_this_run": round(self.teacher.fresh["cost"], 6) if self.config.prices else None,
            "cache": {"hits": self.teacher.hits, "misses": self.teacher.misses},
            "teacher_stats": inner.to_dict() if hasattr(inner, "to_dict") else inner,
            "stopped_early": self.stopped_for,
            "seconds": round(time.monotonic() - self.started, 2),
            **extra,
        }
        write_json(side_path(self.out, "stats.json"), summary)
        return summary


class _Progress:
    """A rich progress bar: accepted, rejected, rate, tokens, cost."""

    def __init__(self, method: str, total: int | None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn(f"[bold]{method}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=False)
        self.task = self.progress.add_task(method, total=total, info="")
        self.started = time.monotonic()
        self.progress.start()

    def update(self, accepted: int, rejected: int, usage: dict[str, float]) -> None:
        rate = accepted / max(time.monotonic() - self.started, 1e-6)
        tokens = int(usage["prompt_tokens"] + usage["completion_tokens"])
        info = f"rejected {rejected} · {rate:.2f}/s · {tokens:,} tok"
        if usage.get("cost"):
            info += f" · ${usage['cost']:.4f}"
        self.progress.update(self.task, completed=accepted, info=info)

    def close(self) -> None:
        self.progress.stop()

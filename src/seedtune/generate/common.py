"""What every generation method shares: teacher setup, seeds, templates, resumable output, progress.

How a run survives SIGKILL: every method is a deterministic function of (inputs, config, the
teacher's answers). All randomness comes from `derive_seed(seed, round, position)`, never from
global RNG state, and every teacher answer is committed to the request cache the moment it
arrives. A rerun of the same command therefore replays the same decisions — stored answers come
from the cache, so nothing is requested twice — and `ReplaySink` appends only the records beyond
those the output file already holds. The result equals an uninterrupted run, byte for byte.

A rerun with a changed config (a higher target, another temperature) is normal too: the output
is rebuilt from the cache, answers already paid for are reused, and only new requests are sent.
A file at the output path is only ever changed when `<out>.stats.json` says this method made it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from seedtune.config import StrictModel, env_var_name
from seedtune.errors import InputError, SeedtuneError
from seedtune.io import JsonlAppender, dumps_line, jsonl_lines, write_json
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
    engine: Literal["auto", "hf", "llamacpp"] = Field("auto", description="What runs an hf: teacher: auto (llama.cpp when llama-cpp-python is installed and the model has a GGUF writer, else transformers), hf (transformers) or llamacpp. The one used is in <out>.stats.json.")
    rpm: float | None = Field(None, gt=0, description="Requests-per-minute limit (openai: teachers).")
    tpm: float | None = Field(None, gt=0, description="Tokens-per-minute limit (openai: teachers).")
    timeout: float = Field(120.0, gt=0, description="Seconds before one HTTP request is abandoned and retried.")
    cache: str | None = Field(None, description="Request cache file (SQLite); default: the seedtune cache directory.")
    prices: str | dict[str, dict[str, float]] | None = Field(None, description="Price table {model: {input: $/1M, output: $/1M}}, inline or a YAML/JSON file, for cost reports and max_cost.")
    max_cost: float | None = Field(None, gt=0, description="Hard budget: a request whose worst-case cost could cross it is not sent, and the run stops cleanly (needs prices).")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _a_name_not_a_key(cls, value: Any) -> Any:
        return env_var_name(value, "api_key_env") if isinstance(value, str) else value


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
    """The configured teacher (or the one given, for tests and library use) behind the request
    cache, with the hard budget when `max_cost` is set (a budget stop returns a partial answer)."""
    from seedtune.cache import Budget, CachedTeacher, PriceTable, RequestCache

    prices = PriceTable.from_setting(config.prices, config.max_cost)
    if teacher is None:
        from seedtune.teachers import open_teacher as open_spec

        # Every option goes to the teacher's kind, which keeps what it supports: a directory
        # keeps its batch_size/dtype, a plugin kind gets what it asks for.
        teacher = open_spec(config.teacher, base_url=config.base_url, batch_size=config.batch_size,
                            dtype=config.dtype, engine=config.engine, concurrency=config.concurrency, rpm=config.rpm, tpm=config.tpm,
                            timeout=config.timeout, api_key_env=config.api_key_env)
    budget = Budget(config.max_cost, prices) if config.max_cost is not None and prices is not None else None
    return CachedTeacher(teacher, RequestCache(config.cache), prices=prices, budget=budget, partial_ok=True)


# -- resumable output -------------------------------------------------------------------------------


class ReplaySink:
    """Append-only JSONL that a replayed run writes into without duplicating what is already there.

    The i-th record a run emits is compared with the i-th row of the existing file (by id); equal
    rows are skipped, later records appended and fsynced per batch. At the first difference (the
    config changed) the sink rebuilds instead: the equal prefix and everything after go to a
    hidden sibling that replaces the file when the run completes; an interrupted rebuild leaves
    the old file as it was (the answers are in the cache, so the next run rebuilds quickly).
    Only construct one on a file known to be this command's output: appending repairs a torn tail.
    """

    def __init__(self, path: Path):
        self.path = path
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
        self._lines = [line for line in jsonl_lines(text)[:-1] if line.strip()]  # whole lines only
        self.existing_ids = [json.loads(line).get("id") for line in self._lines]
        self.position = 0
        self.appended = 0
        self.rebuilt = False
        self._appender: JsonlAppender | None = None
        self._rebuild: Any = None
        self._rebuild_path = path.with_name(f".{path.name}.rebuild")
        self._rebuild_path.unlink(missing_ok=True)  # left by a rebuild that was killed: ours, and stale

    def emit(self, records: Sequence[Record]) -> None:
        new = []
        for record in records:
            if self._rebuild is None and self.position < len(self.existing_ids):
                if self.existing_ids[self.position] == record.id:
                    self.position += 1
                    continue
                self._start_rebuild()
            new.append(record)
            self.position += 1
        if new:
            self._write(new)

    def _start_rebuild(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rebuild = self._rebuild_path.open("w", encoding="utf-8")  # a leftover from a killed rebuild is replaced
        self._rebuild.writelines(line + "\n" for line in self._lines[: self.position])
        self.rebuilt = True

    def _write(self, records: Sequence[Record]) -> None:
        if self._rebuild is not None:
            self._rebuild.writelines(dumps_line(r) for r in records)
            self._rebuild.flush()
        else:
            if self._appender is None:
                self._appender = JsonlAppender(self.path)
            self._appender.append_batch(records)
        self.appended += len(records)

    @property
    def resumed(self) -> int:
        return min(self.position, len(self.existing_ids))

    def close(self, complete: bool = True) -> None:
        """`complete`: the run ended normally, so the file must hold exactly what it emitted."""
        if complete and self._rebuild is None and self.position < len(self.existing_ids):
            self._start_rebuild()  # fewer records than the file holds (e.g. a lower target): drop the rest
        if self._appender is not None:
            self._appender.close()
        if self._rebuild is not None:
            self._rebuild.flush()
            os.fsync(self._rebuild.fileno())
            self._rebuild.close()
            if complete:
                os.replace(self._rebuild_path, self.path)
            else:
                self._rebuild_path.unlink(missing_ok=True)
        if complete and not self.path.exists():
            self.path.touch()  # a finished run always leaves its file, even with nothing in it


def claim_output(out: Path, method: str) -> None:
    """Make sure a file at `out` (or its rejected side file) is this method's own output before
    anything touches it, then mark it as ours in `<out>.stats.json` (rewritten at the end)."""
    stats = side_path(out, "stats.json")
    held = [p for p in (out, side_path(out, "rejected.jsonl")) if p.exists() and (p.is_dir() or p.stat().st_size)]
    if held:
        try:
            owner = json.loads(stats.read_text(encoding="utf-8")) if stats.is_file() else {}
        except (OSError, ValueError):
            owner = {}
        if not isinstance(owner, dict) or owner.get("method") != method or owner.get("output") != out.name:
            raise InputError(f"{held[0].name} already holds data that `generate {method}` did not write "
                             f"(no {stats.name} from it beside the file), so it is left untouched", path=held[0],
                             hint="write to a new output file (seedtune only resumes or rebuilds its own output)")
    write_json(stats, {"method": method, "output": out.name, "complete": False})


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
        claim_output(out, method)
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
        """Answers for a batch (cache first), in order. With a budget, only the prefix it admits is
        answered: the run then stops, and callers handle the records they got answers for."""
        completions = self.teacher.generate(requests)
        budget = self.teacher.budget
        if budget is not None and budget.stopped and self.stopped_for is None:
            self.stopped_for = budget.stopped
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
        """Close the files and write `<out>.stats.json`; returns the same summary. Called while an
        exception propagates, it keeps the files as they were (a rerun resumes from the cache)."""
        complete = sys.exc_info()[0] is None
        self.accepted.close(complete)
        self.rejected.close(complete)
        if self._progress:
            self._progress.close()
        kept = self.accepted.position
        usage = self.teacher.usage
        inner = getattr(self.teacher.teacher, "stats", None)
        summary = {
            "method": self.method, "output": self.out.name, "teacher": self.teacher_id,
            "accepted": kept, "rejected": self.rejected.position, "rejected_by_reason": dict(self.reasons),
            "resumed_rows": self.accepted.resumed, "appended_rows": self.accepted.appended,
            "rebuilt": self.accepted.rebuilt or self.rejected.rebuilt,
            "tokens": {"prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"]},
            "cost": round(usage["cost"], 6) if self.config.prices else None,
            "cost_per_kept": round(usage["cost"] / kept, 6) if self.config.prices and kept else None,
            "spent_this_run": round(self.teacher.fresh["cost"], 6) if self.config.prices else None,
            "cache": {"hits": self.teacher.hits, "misses": self.teacher.misses},
            "teacher_stats": inner.to_dict() if hasattr(inner, "to_dict") else inner,
            "stopped_early": self.stopped_for,
            "budget": self.teacher.budget.summary() if self.teacher.budget is not None else None,
            "complete": complete,
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

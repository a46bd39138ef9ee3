"""Run stages in a run folder, skipping each one whose inputs have not changed.

A run is one folder, one sub-folder per stage:

    runs/<name>/config.yaml  1-generate/  2-curate/  3-train/  4-eval/  report/

Each stage folder holds the resolved config the stage ran with (`stage.json`) and the
fingerprint of its inputs: a hash of its own config section, the fingerprints of the stages it
reads from, and the content hash of every input file. A stage whose fingerprint matches the one
stored after its last *successful* run is skipped — so rerunning a finished pipeline is instant,
and changing `train.learning_rate` reruns train, eval and report but not generation.

The marker `stage.json` is written last, atomically, so a stage killed half-way has no marker
and reruns from scratch (stages themselves resume where they can, e.g. generation).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedtune.errors import ConfigError
from seedtune.io import sha256_file, write_json

MARKER = "stage.json"


@dataclass
class Stage:
    """One step of the pipeline.

    `run(ctx, out_dir)` does the work and returns a small JSON-able summary; `inputs(ctx)` lists
    the files it reads (hashed into the fingerprint); `depends` names earlier stages whose
    fingerprints feed this one's.
    """

    name: str
    folder: str
    run: Callable[["RunContext", Path], dict[str, Any]]
    config: Callable[["RunContext"], dict[str, Any]]
    inputs: Callable[["RunContext"], Sequence[Path]] = lambda ctx: ()
    depends: tuple[str, ...] = ()
    # For a stage whose output may be made outside `seedtune run` (training under `accelerate
    # launch`): checks that output against the config and returns its summary, or None if absent.
    adopt: Callable[["RunContext", Path], dict[str, Any] | None] | None = None


@dataclass
class StageOutcome:
    name: str
    folder: Path
    skipped: bool
    seconds: float
    summary: dict[str, Any]
    fingerprint: str
    run_seconds: float = 0.0  # how long the stage took when it last ran (this run or an earlier one)


@dataclass
class RunContext:
    """What stages share: the run folder, the full resolved config, and earlier outcomes."""

    run_dir: Path
    config: Any
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)
    log: Callable[[str], None] = print
    forcing: bool = False  # the running stage was forced (--from): it must not reuse its parts either

    def stage_dir(self, name: str) -> Path:
        return self.outcomes[name].folder


def fingerprint(config: dict[str, Any], inputs: Sequence[Path], upstream: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True, ensure_ascii=False, default=str).encode())
    for path in sorted(Path(p) for p in inputs):
        digest.update(str(path.name).encode())
        digest.update(_content_hash(path).encode())
    for fp in upstream:
        digest.update(fp.encode())
    return digest.hexdigest()[:20]


def _content_hash(path: Path) -> str:
    if path.is_dir():  # a model directory: hash the small files that identify the weights
        parts = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".json", ".jinja", ".txt"})
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part.name.encode())
            digest.update(part.read_bytes())
        return digest.hexdigest()
    if not path.exists():
        return "missing"
    return sha256_file(path)


def select_stages(stages: Sequence[Stage], start: str | None, until: str | None) -> tuple[int, int]:
    names = [s.name for s in stages]
    for flag, value in (("--from", start), ("--until", until)):
        if value is not None and value not in names:
            raise ConfigError(f"{flag} {value!r} is not a stage", hint=f"stages are: {', '.join(names)}")
    first = names.index(start) if start else 0
    last = names.index(until) if until else len(names) - 1
    if first > last:
        raise ConfigError(f"--from {start} comes after --until {until}", hint="swap them")
    return first, last


def run_stages(ctx: RunContext, stages: Sequence[Stage], start: str | None = None,
               until: str | None = None) -> list[StageOutcome]:
    """Run stages in order; `--from` forces that stage (and so everything after it) to run."""
    first, last = select_stages(stages, start, until)
    outcomes = []
    ran: set[str] = set()  # a stage that ran makes every stage that depends on it run too
    for i, stage in enumerate(stages[: last + 1]):
        folder = ctx.run_dir / stage.folder
        section = stage.config(ctx)
        upstream = [ctx.outcomes[d].fingerprint for d in stage.depends if d in ctx.outcomes]
        fp = fingerprint(section, stage.inputs(ctx), upstream)
        marker = _read_marker(folder)
        forced = start is not None and i == first
        upstream_ran = any(d in ran for d in stage.depends)
        if i < first and marker is None and stage.adopt is not None:
            summary = stage.adopt(ctx, folder)
            if summary is not None:
                marker = {"stage": stage.name, "fingerprint": fp, "config": section, "summary": summary,
                          "adopted": True, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
                write_json(folder / MARKER, marker)
                ctx.log(f"[{stage.name}] adopted the output made outside this run ({folder})")
        if i < first or (marker and marker.get("fingerprint") == fp and not forced and not upstream_ran):
            if marker is None:
                raise ConfigError(f"stage '{stage.name}' has not run yet in {ctx.run_dir}",
                                  hint=f"drop --from, or start from '{stage.name}'")
            outcome = StageOutcome(stage.name, folder, True, 0.0, marker.get("summary", {}), marker["fingerprint"],
                                   float(marker.get("seconds", 0.0)))
            ctx.log(f"[{stage.name}] unchanged, skipped ({folder})")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / MARKER).unlink(missing_ok=True)
            ctx.log(f"[{stage.name}] running -> {folder}")
            started = time.perf_counter()
            ctx.forcing = forced
            summary = stage.run(ctx, folder)
            seconds = time.perf_counter() - started
            write_json(folder / MARKER, {"stage": stage.name, "fingerprint": fp, "config": section,
                                         "summary": summary, "seconds": round(seconds, 2),
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
            outcome = StageOutcome(stage.name, folder, False, seconds, summary, fp, seconds)
            ran.add(stage.name)
            ctx.log(f"[{stage.name}] done in {seconds:.1f}s")
        ctx.outcomes[stage.name] = outcome
        outcomes.append(outcome)
    return outcomes


def run_part(folder: Path, fp: str, work: Callable[[], dict[str, Any]], *, force: bool = False,
             config: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool, float]:
    """One cached part of a stage (a training-data variant): `work()` runs unless `folder` holds
    a marker with fingerprint `fp`. Returns (summary, reused, seconds of its last real run)."""
    marker = _read_marker(folder)
    if marker and marker.get("fingerprint") == fp and not force:
        return marker.get("summary", {}), True, float(marker.get("seconds", 0.0))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).unlink(missing_ok=True)
    started = time.perf_counter()
    summary = work()
    seconds = time.perf_counter() - started
    write_json(folder / MARKER, {"fingerprint": fp, "config": config or {}, "summary": summary,
                                 "seconds": round(seconds, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return summary, False, seconds


def _read_marker(folder: Path) -> dict[str, Any] | None:
    path = folder / MARKER
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # a damaged marker means "not finished": rerun

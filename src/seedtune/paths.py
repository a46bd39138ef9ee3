"""Where seedtune keeps things on disk. One environment variable moves the whole cache."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEEDTUNE_CACHE"


def cache_dir() -> Path:
    """`$SEEDTUNE_CACHE`, else `$XDG_CACHE_HOME/seedtune`, else `~/.cache/seedtune`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seedtune"

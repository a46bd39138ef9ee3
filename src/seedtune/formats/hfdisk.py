"""Hugging Face `datasets` folders written by `save_to_disk` (a Dataset, or a DatasetDict whose
split is chosen with `split=`).

Reading goes through the same table-row logic as Parquet. Writing builds the dataset from our
Arrow schema, saves it into a temporary sibling folder and renames it into place, so an
interrupted write never leaves half a dataset; an existing folder is replaced only when it is
itself a saved dataset, never an arbitrary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.formats.base import ReadContext
from seedtune.formats.parquet import read_table_records, to_arrow
from seedtune.records import Record

MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """datasets prints a progress bar per save/load; ours are drawn by the CLI instead."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


def read(path: Path, ctx: ReadContext, opts: dict[str, Any]) -> list[Record]:
    import datasets

    if not path.is_dir() or not any((path / m).exists() for m in MARKERS):
        raise ctx.fatal("is not a dataset folder written by save_to_disk",
                        hint="pass the folder that holds dataset_info.json (or dataset_dict.json)")
    if _is_empty_dataset(path):
        return []
    try:
        with _quiet():
            loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several unrelated types for a damaged folder
        raise ctx.fatal(f"cannot load the dataset: {exc}") from None
    split = opts.get("split")
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in loaded:
            raise InputError(f"choose a split: this dataset has {', '.join(names)}", path=path, field="split",
                             hint="pass split=NAME (CLI: --split NAME)")
        loaded = loaded[split]
    # A single Dataset is its own split, so `split=` is not checked against it.
    table = loaded.data.table if hasattr(loaded.data, "table") else loaded.data
    return read_table_records(table, ctx, opts)


def _is_empty_dataset(path: Path) -> bool:
    """datasets saves a 0-row Dataset with no data files but cannot load it back (IndexError in
    concat_tables), so we recognise that case from state.json and read it as empty ourselves."""
    import json

    state = path / "state.json"
    try:
        return state.exists() and json.loads(state.read_text(encoding="utf-8")).get("_data_files") == []
    except (OSError, ValueError):
        return False


def write(path: Path, records: Sequence[Record], opts: dict[str, Any]) -> int:
    import datasets

    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or any((path / m).exists() for m in MARKERS))):
        raise InputError("exists and is not a saved dataset; refusing to replace it", path=path,
                         hint="choose a new folder name")
    dataset = datasets.Dataset(datasets.table.InMemoryTable(to_arrow(records)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old: Path | None = None
    try:
        with _quiet():
            dataset.save_to_disk(str(tmp))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return len(records)

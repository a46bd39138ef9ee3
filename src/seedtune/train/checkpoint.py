"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG, and the step counter.

The data order is a pure function of (seed, epoch), so the step number alone says where in the
data we are; restoring the RNG states makes dropout replay identically. Together, a resumed run
reaches the same weights as an uninterrupted one.

Safety: a checkpoint folder may come from anywhere (a shared drive, a colleague), and unpickling
runs code. So every file loads with `torch.load(weights_only=True)`, which accepts only tensors
and plain containers: the optimizer and scheduler state dicts are already that, and the RNG
states are stored as tensors and numbers rather than the pickled objects Python and numpy hand
out. A file that needs more than that is refused, never executed.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

PREFIX = "step-"


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def save(directory: Path, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any],
         rank: int = 0, keep: int = 2, gathered: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """Write checkpoint `step` under `directory` (atomic: a temp dir renamed into place).

    `gathered` is (trainable weights, optimizer state) collected from a sharded run; without it
    rank 0's model and optimizer hold everything."""
    from safetensors.torch import save_file

    final = directory / f"{PREFIX}{step:07d}"
    tmp = directory / f".{PREFIX}{step:07d}.tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        weights, optim_state = gathered or (trainable_state(model), optimizer.state_dict())
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "trainable.safetensors"))
        torch.save(optim_state, tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(_rng_state(), tmp / "rng-0.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(directory.glob(f"{PREFIX}*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_on_every_rank(directory: Path, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any],
                       accelerator: Any, keep: int = 2,
                       gathered: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """`save` on rank 0, then every other rank adds its own RNG state once the folder exists."""
    path = save(directory, step, model, optimizer, scheduler, state, rank=accelerator.process_index, keep=keep,
                gathered=gathered)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        save_rng(path, accelerator.process_index)
    return path


def save_rng(path: Path, rank: int) -> None:
    """Non-zero ranks keep their own RNG (dropout masks differ per rank)."""
    torch.save(_rng_state(), path / f"rng-{rank}.pt")


def latest(directory: Path) -> Path | None:
    found = sorted(p for p in directory.glob(f"{PREFIX}*") if (p / "state.json").exists())
    return found[-1] if found else None


def load(path: Path, model: Any, optimizer: Any, scheduler: Any, rank: int = 0,
         restore: Any = None) -> dict[str, Any]:
    """Restore everything saved by `save`; returns the saved state dict (step, counters).

    `restore(weights, optimizer_state)` puts full state back into a sharded model (every rank
    calls it); without it the weights are copied into `model`'s parameters."""
    from safetensors.torch import load_file

    weights = load_file(str(path / "trainable.safetensors"))
    if restore is not None:
        restore(weights, load_plain(path / "optimizer.pt"))
        return _finish_load(path, scheduler, rank)
    params = dict(model.named_parameters())
    missing = [k for k in weights if k not in params]
    if missing:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError(f"checkpoint {path.name} does not match this model (e.g. {missing[0]})",
                            hint="resume with the same model and adapter settings, or start a fresh output directory")
    with torch.no_grad():
        for k, v in weights.items():
            params[k].copy_(v)
    optimizer.load_state_dict(load_plain(path / "optimizer.pt"))
    return _finish_load(path, scheduler, rank)


def _finish_load(path: Path, scheduler: Any, rank: int) -> dict[str, Any]:
    scheduler.load_state_dict(load_plain(path / "scheduler.pt"))
    rng = path / f"rng-{rank}.pt"
    _set_rng_state(load_plain(rng if rng.exists() else path / "rng-0.pt"))
    return json.loads((path / "state.json").read_text())


def load_plain(path: Path) -> Any:
    """`torch.load` that never unpickles code: tensors and plain containers only."""
    import pickle

    from seedtune.errors import SeedtuneError

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as exc:
        raise SeedtuneError(
            f"{path} is not a checkpoint file seedtune can load safely: it holds pickled objects "
            "(loading them could run arbitrary code) or it is damaged",
            hint=f"resume only from checkpoints this seedtune wrote; delete {path.parent} (or pass a new --output) "
                 "and train again without --resume") from None


def _rng_state() -> dict[str, Any]:
    """Every RNG as tensors and numbers, so it loads with weights_only=True."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python_version": version, "python_state": torch.tensor(internal, dtype=torch.int64),
             "python_gauss": gauss, "numpy_kind": kind, "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_pos": int(pos), "numpy_has_gauss": int(has_gauss), "numpy_gauss": float(cached),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python_state"].tolist()), state["python_gauss"]))
    np.random.set_state((state["numpy_kind"], state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

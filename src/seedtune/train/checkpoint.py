"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG, and the step counter.

The data order is a pure function of (seed, epoch), so the step number alone says where in the
data we are; restoring the RNG states makes dropout replay identically. Together, a resumed run
reaches the same weights as an uninterrupted one.
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
         rank: int = 0, keep: int = 2) -> Path:
    """Write checkpoint `step` under `directory` (atomic: a temp dir renamed into place)."""
    from safetensors.torch import save_file

    final = directory / f"{PREFIX}{step:07d}"
    tmp = directory / f".{PREFIX}{step:07d}.tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in trainable_state(model).items()}, str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(_rng_state(), tmp / "rng-0.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(directory.glob(f"{PREFIX}*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_on_every_rank(directory: Path, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any],
                       accelerator: Any, keep: int = 2) -> Path:
    """`save` on rank 0, then every other rank adds its own RNG state once the folder exists."""
    path = save(directory, step, model, optimizer, scheduler, state, rank=accelerator.process_index, keep=keep)
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


def load(path: Path, model: Any, optimizer: Any, scheduler: Any, rank: int = 0) -> dict[str, Any]:
    """Restore everything saved by `save`; returns the saved state dict (step, counters)."""
    from safetensors.torch import load_file

    weights = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    missing = [k for k in weights if k not in params]
    if missing:
        from seedtune.errors import SeedtuneError

        raise SeedtuneError(f"checkpoint {path.name} does not match this model (e.g. {missing[0]})",
                            hint="resume with the same model and adapter settings, or start a fresh output directory")
    with torch.no_grad():
        for k, v in weights.items():
            params[k].copy_(v)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng = path / f"rng-{rank}.pt"
    _set_rng_state(torch.load(rng if rng.exists() else path / "rng-0.pt", weights_only=False))
    return json.loads((path / "state.json").read_text())


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

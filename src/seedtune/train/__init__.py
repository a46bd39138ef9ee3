"""Fine-tuning: `train(TrainConfig) -> TrainResult` (SFT, or DPO with method='dpo'), and GGUF export.

Heavy imports (torch, transformers) happen when a function is called, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seedtune.train.config import TrainConfig

if TYPE_CHECKING:
    from seedtune.train.sft import TrainResult

__all__ = ["TrainConfig", "TrainResult", "train", "export_gguf", "export_for_ollama"]


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


def export_for_ollama(model_dir: Any, gguf_type: str = "q8_0", output: Any = None) -> tuple[Any, Any]:
    """(gguf file, Modelfile): what `seedtune export MODEL --gguf TYPE` writes.

    `output` is a `.gguf` path or a directory (default: MODEL/gguf/); the file is named
    <model>-<type>.gguf inside a directory, and the Modelfile goes beside it.
    """
    from pathlib import Path

    from seedtune.train.export import export_gguf as _export, write_modelfile

    model_dir = Path(model_dir)
    out = Path(output) if output else model_dir / "gguf"
    if out.suffix != ".gguf":
        out = out / f"{model_dir.resolve().name}-{gguf_type.lower()}.gguf"
    path = _export(model_dir, out, dtype=gguf_type)
    return path, write_modelfile(path, model_dir)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from seedtune.train.sft import TrainResult

        return TrainResult
    raise AttributeError(name)

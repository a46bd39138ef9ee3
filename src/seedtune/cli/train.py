"""`seedtune train` and `seedtune export`: thin wrappers over `seedtune.train`.

Flags and `key=value` overrides fill one `TrainConfig`; a YAML file (`--config`, its `train:`
section or the whole file) fills it first. Heavy imports stay inside the command bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        overrides: list[str] = typer.Argument(None, help="Extra config as key=value (e.g. lora_dropout=0.05 save_every=50)."),
        method: Optional[str] = typer.Option(None, "--method", help="sft (default) | dpo: preference optimisation on pairs."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Base model name or local directory (for dpo: usually the SFT model)."),
        data: Optional[Path] = typer.Option(None, "--data", "-d", help="Training records (JSONL, Alpaca JSON, ...); for dpo, preference pairs."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output directory for the trained model."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (its 'train:' section or the whole file)."),
        lora_r: Optional[int] = typer.Option(None, "--lora-r", help="LoRA rank."),
        full: bool = typer.Option(False, "--full", help="Full fine-tuning instead of LoRA."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Rows per micro-batch per process."),
        max_length: Optional[int] = typer.Option(None, "--max-length", help="Longest sequence in tokens."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
        epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the data."),
        learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Peak learning rate."),
        prompt_format: Optional[str] = typer.Option(None, "--prompt-format", help="auto | alpaca | chat."),
        truncation: Optional[str] = typer.Option(None, "--truncation", help="drop | truncate-prompt-left."),
        resume: bool = typer.Option(False, "--resume", help="Resume from the latest checkpoint in --output."),
        no_packing: bool = typer.Option(False, "--no-packing", help="One sample per row (padded batches)."),
        beta: Optional[float] = typer.Option(None, "--beta", help="dpo: strength of the pull towards the reference."),
    ) -> None:
        """Fine-tune a model on instruction records (SFT) or preference pairs (--method dpo); LoRA by default."""
        from rich.console import Console

        from seedtune.config import merge_section, validate
        from seedtune.errors import ConfigError

        if full and lora_r is not None:
            raise ConfigError("can't provide both --full and --lora-r", key="full",
                              hint="choose one: --full trains every weight, --lora-r N trains an adapter")
        flags = {"method": method, "beta": beta, "model": model, "data": str(data) if data else None, "output": str(output) if output else None,
                 "lora_r": lora_r, "batch_size": batch_size, "max_length": max_length, "max_steps": max_steps,
                 "epochs": epochs, "learning_rate": learning_rate, "prompt_format": prompt_format,
                 "truncation": truncation, "full": True if full else None, "resume": True if resume else None,
                 "packing": False if no_packing else None}
        data_dict = merge_section(config, "train", flags, overrides or [])
        for key, flag in (("model", "--model"), ("data", "--data"), ("output", "--output")):
            if not data_dict.get(key):
                raise ConfigError(f"missing {flag}", key=key, hint=f"pass {flag} (or set '{key}' in --config)")
        from seedtune.train import TrainConfig, train

        cfg = validate(TrainConfig, data_dict, source=str(config) if config else None)
        console = Console(stderr=True)
        result = train(cfg, log=lambda m: console.print(m, highlight=False, markup=False))
        m = result.metrics
        console.print(f"[green]done[/] {m['steps']} steps, {m['train_tokens']:,} tokens, "
                      f"{m['tokens_per_second']:.0f} tok/s, final loss {m['final_loss']:.4f}, "
                      f"peak RSS {m['peak_rss_mb']:.0f} MB -> {result.output}")

    @app.command("export")
    def export_cmd(
        model_dir: Path = typer.Argument(..., help="A trained model directory (merged weights)."),
        gguf: str = typer.Option("f16", "--gguf", help="GGUF tensor type: f32 | f16 | bf16 | q8_0 | q4_0."),
        output: Optional[Path] = typer.Option(None, "--output", "-o",
                                              help="A .gguf file or a directory (default: MODEL/gguf/)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", hidden=True,
                                            help="Older spelling of the tensor type, with --gguf FILE.gguf."),
    ) -> None:
        """Write a trained model as one GGUF file plus an Ollama Modelfile (llama.cpp, ollama, transformers gguf_file=)."""
        from rich.console import Console

        from seedtune.train import export_for_ollama

        if gguf.endswith(".gguf"):  # the 0.1 spelling: --gguf OUT.gguf [--dtype TYPE]
            output, gguf = output or Path(gguf), dtype or "f16"

        path, modelfile = export_for_ollama(model_dir, gguf, output)
        console = Console(stderr=True)
        console.print(f"[green]wrote[/] {path} and {modelfile}", highlight=False)
        console.print(f"run it: cd {path.parent} && ollama create {model_dir.resolve().name} -f Modelfile", highlight=False)

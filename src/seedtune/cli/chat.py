"""`seedtune chat MODEL`: talk to a model in the terminal (thin wrapper over `seedtune.chat`)."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("chat")
    def chat_cmd(
        model: str = typer.Argument(..., help="Model directory (e.g. a trained model) or embedded default name."),
        system: Optional[str] = typer.Option(None, "--system", help="System prompt (change it later with /system)."),
        max_tokens: int = typer.Option(256, "--max-tokens", help="Longest answer in tokens."),
        temperature: float = typer.Option(0.7, "--temperature", help="0 = greedy (deterministic); higher = more varied."),
        top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling (answers repeat exactly)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 | bfloat16 | float16 (default: the loader's choice)."),
        history: Optional[bool] = typer.Option(None, "--history/--no-history", help="Send earlier turns with each message (default: only to a model trained on conversations)."),
    ) -> None:
        """Chat with a model, answers streamed as they are generated, in the prompt format it was trained with.

        Commands: /reset, /system TEXT, /help, /exit (or Ctrl-D). End a line with \\ to continue it, or wrap several lines in \"\"\" ... \"\"\".
        """
        from seedtune.errors import ConfigError

        if max_tokens < 1:
            raise ConfigError(f"--max-tokens must be at least 1, got {max_tokens}", key="max_tokens")
        if not 0 <= temperature <= 2:
            raise ConfigError(f"--temperature must be between 0 and 2, got {temperature}", key="temperature")
        from rich.console import Console

        from seedtune.chat import ChatSession, repl

        with Console(stderr=True).status(f"loading {model} ..."):
            session = ChatSession.load(model, dtype=dtype, system=system, max_tokens=max_tokens,
                                       temperature=temperature, top_p=top_p, seed=seed, history=history)
        try:
            import readline  # noqa: F401  (line editing and history for input(), where available)
        except ImportError:
            pass
        fmt = type(session.teacher.prompt_format).__name__
        memory = ("earlier turns are sent with each message" if session.keeps_history else
                  "each message is answered on its own: this model was not trained on conversations (--history sends earlier turns)")
        repl(session, banner=f"chatting with {model} ({fmt}); {memory}; /help for commands, /exit or Ctrl-D to leave")

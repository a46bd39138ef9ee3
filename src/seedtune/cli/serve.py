"""`seedtune serve MODEL`: an OpenAI-compatible HTTP server over a model (thin wrapper over `seedtune.serve`)."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        model: str = typer.Argument(..., help="Model directory (e.g. a trained model) or embedded default name."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but loopback needs --api-key-env."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="NAME",
                                                  help="Environment variable holding the API key clients must send as 'Authorization: Bearer KEY'."),
        max_batch: int = typer.Option(8, "--max-batch", help="Most sequences answered by one batched generate call."),
        batch_window_ms: float = typer.Option(25.0, "--batch-window-ms", help="How long the first request waits for company, in milliseconds."),
        name: Optional[str] = typer.Option(None, "--name", help="Model id clients use (default: the directory's name or the default's name)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 | bfloat16 | float16 (default: the loader's choice)."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: warning hides per-request lines."),
        max_body_bytes: int = typer.Option(1_048_576, "--max-body-bytes", help="Largest request body (larger: 413)."),
        max_sequences: int = typer.Option(64, "--max-sequences", help="Most sequences per request, prompts x n (more: 400)."),
        max_queue: int = typer.Option(256, "--max-queue", help="Most sequences waiting or running (more: 503 + Retry-After)."),
        request_timeout: float = typer.Option(300.0, "--request-timeout", help="Seconds before an unanswered request gets 504 and its generation stops."),
    ) -> None:
        """Serve a model over the OpenAI API (/v1/models, /v1/chat/completions, /v1/completions, streaming).

        Chat messages are rendered with the model's saved prompt format, so it answers as it was
        trained. Point any OpenAI client, or a seedtune teacher
        (--teacher openai:NAME --base-url http://127.0.0.1:8000/v1), at it.
        """
        from seedtune.config import validate
        from seedtune.serve import serve
        from seedtune.serve.limits import ServeLimits

        limits = validate(ServeLimits, {"max_body_bytes": max_body_bytes, "max_sequences": max_sequences,
                                        "max_queue": max_queue, "request_timeout": request_timeout})
        serve(model, host=host, port=port, api_key_env=api_key_env, max_batch=max_batch,
              batch_window_ms=batch_window_ms, name=name, dtype=dtype, log_level=log_level, limits=limits)

"""`seedtune serve`: an OpenAI-compatible HTTP server for a seedtune-trained (or any local) model.

  protocol.py  request bodies, parameter checks, response/chunk/error shapes
  batcher.py   one worker thread owns the model and batches concurrent requests
  app.py       the FastAPI routes (`create_app(teacher, name)`)
  limits.py    body size, prompts x n, queue bound, timeout (`ServeLimits`)
  server.py    address/key safety checks and the uvicorn launch (`serve(model, ...)`)

Any OpenAI client (or `seedtune generate --teacher openai:NAME --base-url http://127.0.0.1:8000/v1`)
can use it. FastAPI is imported only when this package is.
"""

from __future__ import annotations

from seedtune.serve.app import create_app
from seedtune.serve.batcher import Batcher, BatchStats
from seedtune.serve.limits import ServeLimits
from seedtune.serve.server import check_bind, is_loopback, serve

__all__ = ["Batcher", "BatchStats", "ServeLimits", "check_bind", "create_app", "is_loopback", "serve"]

"""What one server will take on, so that one client cannot starve the others.

Every limit answers early and in OpenAI's error shape: a body too large is 413 before it is read
in full; more sequences in one request (prompts x n) than `max_sequences` is 400 (param "n");
a full queue is 503 with Retry-After (the OpenAI clients retry it); a request still unanswered
after `request_timeout` seconds is 504 and its generation is stopped. A client that disconnects
has its generation stopped too (see `batcher.py` for how far a running job goes on).
"""

from __future__ import annotations

from pydantic import Field

from seedtune.config import StrictModel


class ServeLimits(StrictModel):
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body in bytes (default 1 MiB); larger is 413.")
    max_sequences: int = Field(64, ge=1, description="Most sequences one request may ask for: prompts x n (default 64).")
    max_queue: int = Field(256, ge=1, description="Most sequences waiting or running at once (default 256); past it: 503 + Retry-After.")
    request_timeout: float = Field(300.0, gt=0, description="Seconds a request may wait and generate before 504 (default 300).")
    retry_after: int = Field(1, ge=1, description="Seconds a refused client is told to wait (Retry-After header).")

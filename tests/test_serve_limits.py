"""`seedtune serve` limits: body size (413), prompts x n (400), a bounded queue (503 + Retry-After),
a per-request timeout (504) and cancellation when the client disconnects.

A gated scripted teacher makes timing deterministic: it blocks inside `generate` until the test
opens the gate, and records every prompt that reached the model.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from seedtune.serve import ServeLimits, create_app
from seedtune.serve.batcher import Batcher, QueueFull
from seedtune.teachers import Request, ScriptedTeacher


class Gate:
    """A teacher reply that waits for `open()` and logs which prompts the model was asked."""

    def __init__(self):
        self.event = threading.Event()
        self.seen: list[str] = []

    def __call__(self, request: Request) -> str:
        text = request.prompt if request.prompt is not None else request.messages[-1][1]
        self.seen.append(text)
        assert self.event.wait(20), "the test never opened the gate"
        return f"echo: {text}"

    def open(self) -> None:
        self.event.set()


def _app(gate: Gate | None = None, max_batch: int = 8, **limits):
    teacher = ScriptedTeacher(default=gate or (lambda r: "ok"), model_id="scripted")
    return create_app(teacher, "tiny", max_batch=max_batch, batch_window_ms=0, limits=ServeLimits(**limits))


def _chat(client, text: str = "hello", **body):
    return client.post("/v1/chat/completions",
                       json={"model": "tiny", "messages": [{"role": "user", "content": text}], **body})


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed():
    with TestClient(_app(max_body_bytes=2048)) as client:
        response = _chat(client, "x" * 5000)
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
        payload = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "y" * 5000}]}).encode()
        chunked = client.post("/v1/chat/completions", content=iter([payload[:1000], payload[1000:]]),
                              headers={"content-type": "application/json"})  # no Content-Length: read and counted
        assert chunked.status_code == 413
        assert _chat(client, "small").status_code == 200


def test_prompts_times_n_over_the_cap_is_400_before_any_generation(tiny_model_dir):
    from seedtune.teachers.transformers import HFTeacher

    teacher = HFTeacher(str(tiny_model_dir), batch_size=4)
    calls: list[int] = []
    original = teacher.generate
    teacher.generate = lambda reqs: (calls.append(len(reqs)), original(reqs))[1]
    app = create_app(teacher, "tiny", max_batch=4, limits=ServeLimits(max_sequences=8))
    with TestClient(app) as client:
        big = client.post("/v1/completions", json={"model": "tiny", "prompt": ["hi there"] * 5, "n": 2, "max_tokens": 2})
        assert big.status_code == 400 and big.json()["error"]["param"] == "n"
        assert "10 sequences" in big.json()["error"]["message"] and calls == []
        ok = client.post("/v1/completions", json={"model": "tiny", "prompt": ["hi there"] * 4, "n": 2, "max_tokens": 2})
        assert ok.status_code == 200 and len(ok.json()["choices"]) == 8


def test_a_full_queue_answers_503_with_retry_after():
    gate = Gate()
    app = _app(gate, max_queue=2)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(_chat, client, f"q{i}") for i in range(2)]
        _wait_until(lambda: app.state.batcher.pending == 2)
        busy = _chat(client, "one too many")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "server_busy"
        gate.open()
        assert [f.result(20).status_code for f in waiting] == [200, 200]
        assert _chat(client, "after").status_code == 200  # the bound counts what is pending, not what was
    assert "one too many" not in gate.seen and app.state.batcher.stats.refused == 1


def test_a_request_past_its_timeout_is_504_and_stops_generating():
    """Three prompts with max_batch=1 take three model calls; the timeout hits during the first,
    so the other two are never generated, and a request queued behind it still gets its answer."""
    gate = Gate()
    app = _app(gate, max_batch=1, request_timeout=0.5)
    with TestClient(app) as client:
        slow = client.post("/v1/completions", json={"model": "tiny", "prompt": ["a", "b", "c"], "max_tokens": 4})
        assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"
        gate.open()
        _wait_until(lambda: app.state.batcher.pending == 0)
        assert _chat(client, "next").json()["choices"][0]["message"]["content"] == "echo: next"
    assert gate.seen == ["a", "next"] and app.state.batcher.stats.cancelled == 1


def test_a_streamed_request_past_its_timeout_ends_with_an_error_event():
    gate = Gate()
    with TestClient(_app(gate, request_timeout=0.3)) as client:
        response = _chat(client, "slow", stream=True)
        gate.open()
    assert response.status_code == 200 and '"code": "timeout"' in response.text


def test_a_client_that_disconnects_is_not_generated_for():
    """Client A occupies the model; client B sends a request and hangs up while it waits in the
    queue; B's request must never reach the model, and client C is answered right after A."""
    uvicorn = pytest.importorskip("uvicorn")
    gate = Gate()
    app = _app(gate, max_batch=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_until(lambda: server.started)
    import httpx

    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    jobs = []
    submit = app.state.batcher.submit_job
    app.state.batcher.submit_job = lambda requests: jobs.append(submit(requests)) or jobs[-1]
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, url, json={"model": "tiny", "messages": [{"role": "user", "content": "A"}]},
                                timeout=30)
            _wait_until(lambda: gate.seen == ["A"])
            body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "B"}]}).encode()
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                _wait_until(lambda: len(jobs) == 2)
            _wait_until(lambda: jobs[1].cancelled.is_set())  # B's handler noticed the hang-up
            third = pool.submit(httpx.post, url, json={"model": "tiny", "messages": [{"role": "user", "content": "C"}]},
                                timeout=30)
            _wait_until(lambda: len(jobs) == 3)
            gate.open()
            assert first.result(20).status_code == 200 and third.result(20).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
    assert gate.seen == ["A", "C"] and app.state.batcher.stats.cancelled == 1


def test_batcher_refuses_past_max_queue_and_frees_the_room_when_done():
    teacher = ScriptedTeacher(default=lambda r: "ok")
    batcher = Batcher(teacher, max_batch=4, window_ms=0, max_queue=3)
    try:
        with pytest.raises(QueueFull):
            batcher.submit([Request.user("x", n=4)])
        assert batcher.submit([Request.user("y", n=3)]).result(10)[0].texts == ["ok"] * 3
        _wait_until(lambda: batcher.pending == 0)
        assert batcher.submit([Request.user("z", n=3)]).result(10)
    finally:
        batcher.close()


def test_serve_rejects_bad_limits_on_the_command_line(monkeypatch, capsys):
    import sys

    from seedtune.cli import main

    monkeypatch.setattr(sys, "argv", ["seedtune", "serve", "tiny", "--max-queue", "0"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2 and "max_queue" in capsys.readouterr().err

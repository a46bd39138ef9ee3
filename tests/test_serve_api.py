"""seedtune serve in-process (FastAPI TestClient, scripted teacher): routes, OpenAI shapes, errors,
auth, streaming format, batching of concurrent requests, and the bind-address safety rule."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from seedtune.errors import ConfigError
from seedtune.serve import create_app
from seedtune.serve.batcher import Batcher, sample_requests
from seedtune.serve.server import api_key_from_env, check_bind, is_loopback
from seedtune.teachers import Request, ScriptedTeacher

KEY = "s3cret-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _echo(request: Request) -> str:
    return "echo: " + (request.prompt if request.prompt is not None else request.messages[-1][1])


@pytest.fixture
def teacher():
    return ScriptedTeacher(default=_echo, model_id="scripted")


@pytest.fixture
def client(teacher):
    with TestClient(create_app(teacher, "tiny", aliases=["path/to/tiny"])) as c:
        yield c


def _chat(client, headers=None, **body):
    payload = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], **body}
    return client.post("/v1/chat/completions", json=payload, headers=headers or {})


def _events(text: str) -> list:
    """Parse an SSE body into JSON chunks (and the literal [DONE])."""
    out = []
    for block in text.split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            data = block[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_models_lists_the_served_model(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["tiny"]
    assert client.get("/v1/models/tiny").json()["id"] == "tiny"
    missing = client.get("/v1/models/other")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_chat_completion_shape_usage_and_messages_passed_through(client, teacher):
    r = _chat(client, messages=[{"role": "developer", "content": "be brief"},
                                {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]}],
              max_tokens=5, temperature=0.2, top_p=0.9, seed=3, stop="END", n=2)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny" and body["id"].startswith("chatcmpl-")
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert all(c["message"] == {"role": "assistant", "content": "echo: hello"} for c in body["choices"])
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert body["usage"]["completion_tokens"] == 4  # the scripted teacher counts words: 2 samples x 2
    seen = teacher.seen[-1]
    assert seen.messages == (("system", "be brief"), ("user", "hello"))
    assert (seen.max_tokens, seen.temperature, seen.top_p, seen.seed, seen.stop, seen.n) == (5, 0.2, 0.9, 3, ("END",), 2)


def test_openai_defaults_apply_when_params_are_absent(client, teacher):
    assert _chat(client).status_code == 200
    seen = teacher.seen[-1]
    assert (seen.temperature, seen.top_p, seen.n, seen.seed, seen.stop) == (1.0, 1.0, 1, None, ())


def test_completions_with_a_list_of_prompts_orders_choices_prompt_major(client, teacher):
    r = client.post("/v1/completions", json={"model": "path/to/tiny", "prompt": ["a b", "c"], "n": 2, "max_tokens": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == ["echo: a b", "echo: a b", "echo: c", "echo: c"]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert body["usage"]["prompt_tokens"] == 3  # each prompt counted once, not once per sample
    assert [r.prompt for r in teacher.seen[-2:]] == ["a b", "c"]
    assert teacher.seen[-1].max_tokens == 3


def test_chat_stream_is_openai_chunks_ending_with_done(client):
    r = _chat(client, stream=True, n=2, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index]
        assert mine[0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["delta"].get("content", "") for c in mine) == "echo: hello"
        assert mine[-1]["finish_reason"] == "stop" and all(c["finish_reason"] is None for c in mine[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_completion_stream_without_usage_request_sends_no_usage_chunk(client):
    r = client.post("/v1/completions", json={"model": "tiny", "prompt": "x", "stream": True})
    events = _events(r.text)
    assert events[-1] == "[DONE]"
    assert "".join(c["choices"][0]["text"] for c in events[:-1]) == "echo: x"
    assert all("usage" not in c and c["object"] == "text_completion" for c in events[:-1])


@pytest.mark.parametrize("body, param", [
    ({"temperature": 2.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"n": 0}, "n"),
    ({"n": 17}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "messages[1].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages[0].content"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"logprobs": True}, "logprobs"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
])
def test_bad_values_are_400_naming_the_param(client, body, param):
    r = _chat(client, **body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_harmless_extras_are_accepted(client):
    assert _chat(client, user="u1", metadata={"a": "b"}, presence_penalty=0, logprobs=False).status_code == 200


@pytest.mark.parametrize("payload, status, param", [
    ({"messages": [{"role": "user", "content": "x"}]}, 422, "model"),
    ({"model": "tiny"}, 422, "messages"),
    ({"model": "tiny", "messages": "hello"}, 422, "messages"),
    ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, 422, "temperature"),
    ([1, 2], 422, None),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
])
def test_schema_errors_are_422_and_unknown_model_404(client, payload, status, param):
    r = client.post("/v1/chat/completions", json=payload)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


def test_invalid_json_is_400_and_unknown_route_404_in_openai_shape(client):
    r = client.post("/v1/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = client.get("/v1/embeddings")
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_teacher_failure_is_a_500_server_error():
    def boom(request: Request) -> str:
        raise RuntimeError("model exploded")

    with TestClient(create_app(ScriptedTeacher(default=boom), "tiny"), raise_server_exceptions=False) as c:
        r = _chat(c)
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "server_error" and "model exploded" in r.json()["error"]["message"]
        assert _chat(c, stream=True).text.count("model exploded") == 1  # error event instead of [DONE]


def test_api_key_is_required_on_every_route_and_never_echoed(teacher):
    with TestClient(create_app(teacher, "tiny", api_key=KEY)) as c:
        for call in (lambda h: c.get("/v1/models", headers=h), lambda h: _chat(c, headers=h),
                     lambda h: c.post("/v1/completions", json={"model": "tiny", "prompt": "x"}, headers=h),
                     lambda h: c.get("/stats", headers=h)):
            assert call({}).status_code == 401
            wrong = call({"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
            assert call({"Authorization": KEY}).status_code == 401  # no Bearer scheme
            assert call(AUTH).status_code == 200
            assert KEY not in wrong.text
        assert c.get("/health").status_code == 200  # liveness probe reveals nothing


def test_auth_is_checked_before_the_body():
    with TestClient(create_app(ScriptedTeacher(default="x"), "tiny", api_key=KEY)) as c:
        assert c.post("/v1/chat/completions", content=b"garbage").status_code == 401


class _GatedTeacher(ScriptedTeacher):
    """Blocks its first generate call until released, so later requests pile up in the queue."""

    def __init__(self):
        super().__init__(default=_echo)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []

    def generate(self, requests):
        self.calls.append(len(requests))
        self.entered.set()
        self.gate.wait(10)
        return super().generate(requests)


def test_concurrent_requests_share_one_generate_call():
    teacher = _GatedTeacher()
    with TestClient(create_app(teacher, "tiny", max_batch=8, batch_window_ms=0)) as c, ThreadPoolExecutor(6) as pool:
        first = pool.submit(_chat, c, messages=[{"role": "user", "content": "first"}])
        assert teacher.entered.wait(10)
        rest = [pool.submit(_chat, c, messages=[{"role": "user", "content": f"q{i}"}]) for i in range(5)]
        deadline = time.monotonic() + 10
        while c.app.state.batcher._queue.qsize() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        teacher.gate.set()
        answers = [f.result().json()["choices"][0]["message"]["content"] for f in [first, *rest]]
        stats = c.get("/stats").json()
    assert answers == ["echo: first"] + [f"echo: q{i}" for i in range(5)]  # each got its own answer back
    assert teacher.calls == [1, 5]
    assert stats["batches"] == 2 and stats["max_batch_rows"] == 5 and stats["sizes"] == {"1": 1, "5": 1}


def test_batches_respect_max_batch_and_the_window_collects_company():
    teacher = ScriptedTeacher(default=_echo)
    calls: list[int] = []
    original = teacher.generate
    teacher.generate = lambda reqs: (calls.append(len(reqs)), original(reqs))[1]
    batcher = Batcher(teacher, max_batch=3, window_ms=300)
    try:
        futures = [batcher.submit([Request.user(f"m{i}")]) for i in range(7)]
        texts = [f.result(10)[0].text for f in futures]
    finally:
        batcher.close()
    assert texts == [f"echo: m{i}" for i in range(7)]
    assert calls == [3, 3, 1]


def test_stream_samples_get_distinct_reproducible_seeds():
    samples = sample_requests(Request.user("x", n=3, seed=10))
    assert [(s.n, s.seed) for s in samples] == [(1, 10), (1, 11), (1, 12)]
    assert [s.seed for s in sample_requests(Request.user("x", n=2))] == [None, None]


# -- the bind-address rule ------------------------------------------------------------------------


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.5", False), ("example.com", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_needs_a_key(monkeypatch):
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "k")
    with pytest.raises(ConfigError, match="without an API key"):
        check_bind("0.0.0.0", None)
    monkeypatch.delenv("SEEDTUNE_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="SEEDTUNE_TEST_KEY"):
        api_key_from_env("SEEDTUNE_TEST_KEY")
    monkeypatch.setenv("SEEDTUNE_TEST_KEY", " k ")
    assert api_key_from_env("SEEDTUNE_TEST_KEY") == "k" and api_key_from_env(None) is None


def test_cli_refuses_0000_without_a_key_before_loading_anything(tmp_path):
    exe = [sys.executable, "-c", "from seedtune.cli import main; main()"]
    result = subprocess.run([*exe, "serve", str(tmp_path / "no-such-model"), "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' without an API key" in result.stderr
    assert "--api-key-env" in result.stderr
    result = subprocess.run([*exe, "serve", str(tmp_path), "--host", "0.0.0.0", "--api-key-env", "SEEDTUNE_UNSET_KEY_X"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "SEEDTUNE_UNSET_KEY_X" in result.stderr


def test_one_bad_request_does_not_fail_the_requests_batched_with_it():
    def picky(request: Request) -> str:
        if "poison" in request.messages[-1][1]:
            raise ValueError("cannot answer poison")
        return _echo(request)

    teacher = _GatedTeacher()
    teacher.default = picky
    with TestClient(create_app(teacher, "tiny", batch_window_ms=0), raise_server_exceptions=False) as c, \
            ThreadPoolExecutor(4) as pool:
        first = pool.submit(_chat, c, messages=[{"role": "user", "content": "first"}])
        assert teacher.entered.wait(10)
        rest = [pool.submit(_chat, c, messages=[{"role": "user", "content": text}]) for text in ("a", "poison", "b")]
        while c.app.state.batcher._queue.qsize() < 3:
            time.sleep(0.01)
        teacher.gate.set()
        results = [f.result() for f in [first, *rest]]
    assert [r.status_code for r in results] == [200, 200, 500, 200]
    assert results[3].json()["choices"][0]["message"]["content"] == "echo: b"
    assert teacher.calls == [1, 3, 1, 1, 1]  # the failed batch of 3 was retried job by job


class _TokenizingTeacher(ScriptedTeacher):
    """A scripted teacher with a word 'tokenizer', a 'prompt format' that rejects two system
    messages, and a 12-token context: enough to exercise the server's pre-generation checks."""

    def __init__(self):
        super().__init__(default=_echo)
        self.tokenizer = lambda text, add_special_tokens=True: {"input_ids": text.split()}
        self.model = type("M", (), {"config": type("C", (), {"max_position_embeddings": 12})()})()

    def render(self, request: Request):
        from seedtune.errors import SeedtuneError

        if sum(role == "system" for role, _ in request.messages) > 1:
            raise SeedtuneError("chat template raised: only one system message")
        return request.prompt if request.prompt is not None else " ".join(c for _, c in request.messages), True


def test_prompt_checks_before_generation():
    teacher = _TokenizingTeacher()
    with TestClient(create_app(teacher, "tiny")) as c:
        r = _chat(c, messages=[{"role": "system", "content": "a"}, {"role": "system", "content": "b"},
                               {"role": "user", "content": "c"}])
        assert r.status_code == 400 and "only one system message" in r.json()["error"]["message"]
        r = c.post("/v1/completions", json={"model": "tiny", "prompt": ["fine", " "]})
        assert r.status_code == 400 and r.json()["error"]["message"].startswith("prompt 1 is empty")
        r = c.post("/v1/completions", json={"model": "tiny", "prompt": "one two three", "max_tokens": 10})
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
        assert c.post("/v1/completions", json={"model": "tiny", "prompt": "one two three", "max_tokens": 9}).status_code == 200
        # Without max_tokens the default is clipped to the room left instead of failing.
        assert c.post("/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "user", "content": "w " * 10}]}).status_code == 200
        assert teacher.seen[-1].max_tokens == 2
    assert len(teacher.seen) == 2  # nothing that failed a check reached the model


def test_a_seedtune_trained_model_is_served_in_its_saved_prompt_format(tmp_path):
    """A model saved with prompt_format.json (here Alpaca, though it has a chat template) answers chat
    messages exactly as a raw completion of the Alpaca-rendered prompt: the format it was trained in."""
    from seedtune.prompts import AlpacaFormat, save_format
    from seedtune.records import Message, Record
    from seedtune.testing import save_tiny_model
    from seedtune.teachers.transformers import HFTeacher

    model_dir = save_tiny_model(tmp_path / "trained")
    fmt = AlpacaFormat()
    save_format(fmt, model_dir)
    teacher = HFTeacher(str(model_dir), batch_size=4)
    assert isinstance(teacher.prompt_format, AlpacaFormat)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}]
    rendered = fmt.render_prompt(Record(instruction="", messages=[Message(**m) for m in messages]))
    assert "### Instruction:\nName a fruit." in rendered
    params = {"max_tokens": 10, "temperature": 1.0, "seed": 8}
    with TestClient(create_app(teacher, "trained")) as c:
        chat = c.post("/v1/chat/completions", json={"model": "trained", "messages": messages, **params}).json()
        raw = c.post("/v1/completions", json={"model": "trained", "prompt": rendered, **params}).json()
    assert chat["choices"][0]["message"]["content"] == raw["choices"][0]["text"] != ""
    assert chat["usage"] == raw["usage"]

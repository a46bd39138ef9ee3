"""seedtune serve for real: uvicorn on 127.0.0.1 with the tiny model, driven by the official
`openai` client and by seedtune's own OpenAI teacher (the round trip). The server must answer
exactly what the model answers locally with the same prompt format and sampling seed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from seedtune.serve import create_app  # noqa: E402
from seedtune.teachers import Request, from_string  # noqa: E402
from seedtune.teachers.transformers import HFTeacher  # noqa: E402

KEY = "test-key-7f3a"
KEY_ENV = "SEEDTUNE_SERVE_TEST_KEY"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def local(tiny_model_dir):
    """The same model loaded in-process: what the server's answers are compared with."""
    return HFTeacher(str(tiny_model_dir), batch_size=8)


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    teacher = HFTeacher(str(tiny_model_dir), batch_size=8)
    app = create_app(teacher, "tiny", api_key=KEY, max_batch=8, batch_window_ms=400)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield {"url": f"http://127.0.0.1:{port}/v1", "teacher": teacher, "app": app}
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server["url"], api_key=KEY, max_retries=0, timeout=60)


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": text}]


def test_models_list(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_chat_matches_the_local_model_and_counts_usage(client, local):
    reply = client.chat.completions.create(model="tiny", messages=_msgs("Translate to French: I like apples."),
                                           max_tokens=12, temperature=1.0, seed=11)
    expected = local.generate([Request.chat(_msgs("Translate to French: I like apples."), max_tokens=12,
                                            temperature=1.0, top_p=1.0, seed=11)])[0]
    assert reply.choices[0].message.content == expected.text and expected.text.strip()
    assert reply.choices[0].finish_reason == expected.finish_reasons[0]
    assert reply.usage.prompt_tokens == expected.prompt_tokens
    assert reply.usage.completion_tokens == expected.completion_tokens
    assert reply.usage.total_tokens == expected.prompt_tokens + expected.completion_tokens


def test_completions_send_the_raw_prompt(client, local):
    reply = client.completions.create(model="tiny", prompt="The capital of France is", max_tokens=8,
                                      temperature=0.8, seed=2, n=2)
    expected = local.generate([Request(prompt="The capital of France is", max_tokens=8, temperature=0.8, seed=2, n=2)])[0]
    assert [c.text for c in reply.choices] == expected.texts
    assert reply.usage.completion_tokens == expected.completion_tokens


def test_max_tokens_stop_and_seed(client):
    def ask(**kw):
        return client.chat.completions.create(model="tiny", messages=_msgs("hi"), temperature=1.0, **kw).choices[0]

    full = ask(max_tokens=24, seed=5)
    assert ask(max_tokens=24, seed=5).message.content == full.message.content  # seeded: repeats exactly
    text = full.message.content
    assert len(text) > 8
    stop = text[4:7]
    cut = ask(max_tokens=24, seed=5, stop=[stop])
    assert cut.message.content == text[: text.find(stop)] and cut.finish_reason == "stop"
    short = client.chat.completions.create(model="tiny", messages=_msgs("hi"), temperature=1.0, seed=5, max_tokens=3)
    assert short.usage.completion_tokens <= 3 and short.choices[0].finish_reason == "length"


def test_streaming_chat_yields_the_same_text_in_pieces_with_usage(client, local):
    params = dict(model="tiny", messages=_msgs("Summarize: the fox jumps."), max_tokens=16, temperature=1.0, seed=9)
    whole = client.chat.completions.create(**params).choices[0].message.content
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **params))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == whole
    assert len(pieces) > 1  # really streamed, not one blob
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_streaming_completions(client):
    params = dict(model="tiny", prompt="Once upon a time", max_tokens=10, temperature=1.0, seed=4)
    whole = client.completions.create(**params).choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(stream=True, **params) if c.choices)
    assert streamed == whole


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(server, client, local):
    prompts = [f"Question {i}: what is {i} plus {i}?" for i in range(4)]
    expected = [local.generate([Request.chat(_msgs(p), max_tokens=8, temperature=1.0, top_p=1.0, seed=i)])[0].text
                for i, p in enumerate(prompts)]
    before = dict(server["app"].state.batcher.stats.to_dict())
    generate_calls = server["teacher"].stats["batches"]
    with ThreadPoolExecutor(len(prompts)) as pool:
        replies = list(pool.map(lambda ip: client.chat.completions.create(
            model="tiny", messages=_msgs(ip[1]), max_tokens=8, temperature=1.0, seed=ip[0]), enumerate(prompts)))
    assert [r.choices[0].message.content for r in replies] == expected
    after = server["app"].state.batcher.stats.to_dict()
    batches = after["batches"] - before["batches"]
    assert after["requests"] - before["requests"] == len(prompts)
    assert batches < len(prompts), f"4 concurrent requests took {batches} batches"
    assert server["teacher"].stats["batches"] - generate_calls < len(prompts)  # fewer model.generate calls too


def test_errors_reach_the_client_as_its_exception_classes(server, client):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server["url"], api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=_msgs("hi"))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="tiny", messages=_msgs("hi"), temperature=5)
    assert info.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="tiny", messages=_msgs("apples " * 1100), max_tokens=4)
    assert info.value.body["code"] == "context_length_exceeded"


def test_round_trip_seedtune_openai_teacher_against_our_server(server, local, monkeypatch):
    """The server as the teacher of another seedtune run: openai:NAME + base_url."""
    monkeypatch.setenv(KEY_ENV, KEY)
    teacher = from_string("openai:tiny", base_url=server["url"], api_key_env=KEY_ENV)
    requests = [Request.user("Classify the sentiment: I love it.", max_tokens=10, temperature=1.0, seed=1),
                Request.user("北京是哪个国家的首都？", max_tokens=10, temperature=1.0, seed=2)]
    got = teacher.generate(requests)
    want = local.generate(requests)
    assert [c.texts for c in got] == [c.texts for c in want]
    assert [c.completion_tokens for c in got] == [c.completion_tokens for c in want]


def test_the_cli_serves_with_a_key_and_stops_on_ctrl_c(tiny_model_dir):
    port = _free_port()
    env = {**os.environ, KEY_ENV: KEY}
    proc = subprocess.Popen([sys.executable, "-c", "from seedtune.cli import main; main()", "serve", str(tiny_model_dir),
                             "--port", str(port), "--api-key-env", KEY_ENV, "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                models = client.models.list()
                break
            except openai.APIConnectionError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        assert [m.id for m in models.data] == [tiny_model_dir.name]
        reply = client.chat.completions.create(model=str(tiny_model_dir), messages=_msgs("hi"), max_tokens=4)
        assert reply.usage.completion_tokens >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert f"at http://127.0.0.1:{port}/v1 (API key required)" in output
    assert KEY not in output  # the key is never printed

"""A fake OpenAI-compatible server for tests and benchmarks: stdlib only, starts in ~0.1 s.

Run as a subprocess: `python fake_openai_server.py --faults 429,500,slow,truncated --latency 0.05`.
It binds 127.0.0.1 on a free port and prints `PORT <n>` as its first line. The k-th request it
receives gets the k-th fault of `--faults` (then all succeed), so a test knows exactly how many
retries of each cause a correct client must make:

  429        HTTP 429 with `Retry-After: <--retry-after>`
  500        HTTP 500
  slow       sleeps `--slow` seconds before answering (longer than the client's timeout)
  truncated  HTTP 200 whose JSON body is cut in half
  nochoices  HTTP 200 with an empty `choices` list
  400        HTTP 400 (a request the provider refuses; a client must not retry it)
  ctx400     HTTP 400 shaped as `vllm serve` rejects a prompt + max_tokens over its context length

`--reject TEXT` answers HTTP 400 to every request whose prompt contains TEXT (a record that always
fails, whatever the order requests arrive in). GET /stats also says how many requests repeated
one already received (same route and body): what a client that loses answers pays twice.

Every answer is `echo: <last user message>` (`#i` appended for the i-th of n samples), so a test
can check that each answer came back to the request that asked. GET /stats returns counters.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, faults: list[str]):
        self.faults = faults
        self.lock = threading.Lock()
        self.received = 0
        self.served: dict[str, int] = {}
        self.inflight = 0
        self.max_inflight = 0
        self.bodies: set[str] = set()
        self.repeated = 0

    def seen(self, path: str, body: bytes) -> None:
        import hashlib

        digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
        with self.lock:
            self.repeated += digest in self.bodies
            self.bodies.add(digest)

    def enter(self) -> None:
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self) -> None:
        with self.lock:
            self.inflight -= 1

    def next_fault(self) -> str:
        with self.lock:
            k = self.received
            self.received += 1
        return self.faults[k] if k < len(self.faults) else "ok"

    def count(self, what: str) -> None:
        with self.lock:
            self.served[what] = self.served.get(what, 0) + 1


def make_handler(state: State, args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; with Nagle on, the body waits for the
            # client's delayed ACK (~40 ms), a stall that would be charged to the client.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/stats"):
                self._send(200, json.dumps({"received": state.received, "served": state.served,
                                             "max_inflight": state.max_inflight, "repeated": state.repeated,
                                             "distinct": len(state.bodies)}).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            state.enter()
            try:
                self._answer()
            finally:
                state.leave()

        def _answer(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            if not self.path.rstrip("/").endswith(("/v1/chat/completions", "/v1/completions")):
                self._send(404, b'{"error": {"message": "no such route"}}')
                return
            state.seen(self.path, raw)
            fault = state.next_fault()
            if args.reject and args.reject in json.dumps(body.get("messages") or body.get("prompt"), ensure_ascii=False):
                fault = "400"
            state.count(fault)
            if fault == "400":
                self._send(400, b'{"error": {"message": "This model\'s maximum context length is exceeded", '
                                b'"type": "invalid_request_error", "code": "context_length_exceeded"}}')
                return
            if fault == "429":
                self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": str(args.retry_after)})
                return
            if fault == "500":
                self._send(500, b'{"error": {"message": "boom"}}')
                return
            if fault == "ctx400":  # vLLM's error body: top-level message, no "error" object
                message = ("This model's maximum context length is 2048 tokens. However, you requested "
                           f"{2048 + int(body.get('max_tokens') or 0)} tokens. Please reduce the length of the messages or completion.")
                self._send(400, json.dumps({"object": "error", "message": message, "type": "BadRequestError",
                                            "param": None, "code": 400}).encode())
                return
            if fault == "slow":
                time.sleep(args.slow)
            if args.latency:
                time.sleep(args.latency)
            chat = self.path.rstrip("/").endswith("/chat/completions")
            if chat:
                users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
                prompt = users[-1] if users else ""
            else:
                prompt = body.get("prompt", "")
            n = int(body.get("n") or 1)
            texts = [f"echo: {prompt}" + (f" #{i}" if n > 1 else "") for i in range(n)]
            if chat:
                choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                           for i, t in enumerate(texts)]
            else:
                choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
            if chat and body.get("logprobs"):
                # The first token is the echo's first word; alternatives get lower logprobs.
                first = texts[0].split()[0]
                alts = [{"token": first, "logprob": -0.1, "bytes": None}] + [
                    {"token": f"alt{k}", "logprob": -3.0 - k, "bytes": None} for k in range(int(body.get("top_logprobs") or 0) - 1)]
                for c in choices:
                    c["logprobs"] = {"content": [{"token": first, "logprob": -0.1, "bytes": None, "top_logprobs": alts}]}
            if not chat and body.get("logprobs"):
                # Legacy completions (vLLM serves them too): logprobs=k gives one {token: logprob} per position.
                first = texts[0].split()[0]
                tops = {first: -0.1, **{f"alt{k}": -3.0 - k for k in range(int(body["logprobs"]) - 1)}}
                for c in choices:
                    c["logprobs"] = {"tokens": [first], "token_logprobs": [-0.1], "top_logprobs": [tops], "text_offset": [0]}
            if fault == "nochoices":
                choices = []
            reply = {"id": "fake", "object": "chat.completion" if chat else "text_completion", "created": 0,
                     "model": body.get("model", "fake"), "choices": choices,
                     "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": sum(len(t.split()) for t in texts),
                               "total_tokens": len(prompt.split()) + sum(len(t.split()) for t in texts)}}
            data = json.dumps(reply).encode()
            if fault == "truncated":
                data = data[: len(data) // 2]
            self._send(200, data)

    return Handler


class QuietServer(ThreadingHTTPServer):
    """A client killed mid-request is what the fault tests do on purpose: not worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="", help="comma-separated faults for the first requests")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--slow", type=float, default=3.0, help="seconds a 'slow' fault sleeps")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds on 429")
    parser.add_argument("--reject", default="", help="answer HTTP 400 to requests whose prompt contains this")
    args = parser.parse_args()
    state = State([f for f in args.faults.split(",") if f])
    QuietServer.request_queue_size = 256  # the default backlog of 5 drops bursts of connections
    server = QuietServer(("127.0.0.1", 0), make_handler(state, args))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: `seedtune serve` with request batching vs the same server answering one request at a time.

Starts the server twice in this process (uvicorn on 127.0.0.1, a free port): once with
`max_batch=1` (the baseline: every request is its own generate call, as a naive server does) and
once with `max_batch=--clients` and a short batch window. Each time, `--clients` threads send
`--requests` chat completions each through the official `openai` client, all at once. Prints
wall time, completion tokens/s, generate calls and mean sequences per call for both, and the
speed-up. Decoding is greedy, so both runs generate the same answers and the same number of
tokens (printed; a mismatch is reported) and the comparison is fair.

Measured on the shared 2-core CPU (heavily contended, so treat as rough): tiny model, 8 clients
x 2-3 requests: anywhere from 0.9x to 9x between runs (5-8 sequences per call, so the batching
itself works; the wall times are dominated by other jobs); smollm2-135m-instruct, 8 clients x 2
requests: 1.3x (5.3 sequences per call) while other jobs held most of the cores. Rerun on a quiet
machine before quoting a figure.

    python bench/serve.py                                   # tiny test model (no download)
    python bench/serve.py --model smollm2-135m-instruct     # the embedded teacher
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PROMPTS = ["Translate to French: I like to eat apples.", "Summarize: the quick brown fox jumps over the lazy dog.",
           "Write a Python function that returns the sum of a list.", "What is the capital of France?",
           "请把下面的句子翻译成英文：我喜欢吃苹果。", "Classify the sentiment: this movie was wonderful.",
           "Give three tips for staying focused.", "北京是哪个国家的首都？"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(teacher, max_batch: int, window_ms: float, clients: int, requests: int, max_tokens: int) -> dict:
    import openai
    import uvicorn

    from seedtune.serve import create_app

    app = create_app(teacher, "bench", max_batch=max_batch, batch_window_ms=window_ms)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=600)

    def one_client(c: int) -> int:
        tokens = 0
        for r in range(requests):
            reply = client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": PROMPTS[(c + r) % len(PROMPTS)]}],
                max_tokens=max_tokens, temperature=0)
            tokens += reply.usage.completion_tokens
        return tokens

    client.chat.completions.create(model="bench", messages=[{"role": "user", "content": "warm up"}], max_tokens=2)
    before = app.state.batcher.stats.to_dict()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - start
    after = app.state.batcher.stats.to_dict()
    server.should_exit = True
    thread.join(10)
    batches = after["batches"] - before["batches"]
    return {"wall_s": wall, "tokens": tokens, "tok_per_s": tokens / wall, "batches": batches,
            "rows_per_batch": (after["rows"] - before["rows"]) / max(1, batches)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model dir or embedded default (default: the tiny test model)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--window-ms", type=float, default=25.0)
    args = parser.parse_args()

    import torch

    from seedtune.teachers.transformers import HFTeacher

    torch.manual_seed(0)
    if args.model is None:
        from seedtune.testing import save_tiny_model

        model = str(save_tiny_model(tempfile.mkdtemp(prefix="seedtune-bench-serve-")))
    else:
        model = args.model
    teacher = HFTeacher(model, batch_size=args.clients)
    print(f"model={args.model or 'tiny test model'} clients={args.clients} requests/client={args.requests} "
          f"max_tokens={args.max_tokens} torch threads={torch.get_num_threads()}")
    baseline = run(teacher, 1, 0.0, args.clients, args.requests, args.max_tokens)
    batched = run(teacher, args.clients, args.window_ms, args.clients, args.requests, args.max_tokens)
    for name, r in (("one at a time (max_batch=1)", baseline), (f"batched (max_batch={args.clients})", batched)):
        print(f"{name:32s} wall {r['wall_s']:7.2f} s  {r['tokens']:6d} tokens  {r['tok_per_s']:8.1f} tok/s  "
              f"{r['batches']:4d} generate calls  {r['rows_per_batch']:.2f} seqs/call")
    if baseline["tokens"] != batched["tokens"]:
        print(f"warning: the runs generated different token counts ({baseline['tokens']} vs {batched['tokens']})")
    print(f"speed-up (tokens/s batched / one at a time): {batched['tok_per_s'] / baseline['tok_per_s']:.2f}x")


if __name__ == "__main__":
    main()

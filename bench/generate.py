"""Generation throughput, ours against the naive way, side by side in one run.

1. Local teacher: `HFTeacher` batched (requests sorted by length, left-padded, batch of B) against
   the same teacher answering one request at a time — completion tokens per second, and the ratio.
   Goal: >= 5x on a small CPU.
2. OpenAI-compatible client: `OpenAITeacher` at concurrency C against a local server that answers
   every request after a fixed latency L. The ideal rate is C / L requests per second; we print
   the share of it reached (goal: >= 90%) and the one-at-a-time rate for contrast.

    python bench/generate.py                      # both parts, embedded SmolLM2-135M teacher
    python bench/generate.py --model tiny --n 32  # the in-code tiny model (seconds, for CI)
    python bench/generate.py --skip-local --concurrency 32 --latency 0.1

Timings on a shared machine are noisy: run it alone when the numbers matter.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seedtune.teachers.base import Request

PROMPTS = [
    "Give three tips for staying focused while studying.", "Explain what a prime number is.",
    "Write a haiku about autumn leaves.", "Summarize the plot of Romeo and Juliet in two sentences.",
    "What is the capital of Australia?", "Translate 'good morning' into French and Spanish.",
    "List four uses of baking soda at home.", "Why is the sky blue?", "用一句话解释什么是光合作用。",
    "Write a short thank-you note to a teacher.", "Describe how a bicycle works.",
    "Suggest a name for a coffee shop by the sea.", "给出三个保持健康的建议。", "What does a compiler do?",
    "Convert 30 degrees Celsius to Fahrenheit.", "Write a Python function that reverses a string.",
]


def local_bench(model: str, n: int, batch_size: int, max_tokens: int, dtype: str | None) -> None:
    import torch

    from seedtune.teachers.transformers import HFTeacher

    if model == "tiny":
        from seedtune.testing import save_tiny_model

        model = str(save_tiny_model(Path(tempfile.mkdtemp()) / "tiny"))
    teacher = HFTeacher(model, batch_size=batch_size, dtype=dtype)
    # temperature 0: both sides produce the same tokens, so the comparison is like for like.
    requests = [Request.user(PROMPTS[i % len(PROMPTS)] + ("" if i < len(PROMPTS) else f" (variant {i})"),
                             max_tokens=max_tokens, temperature=0.0) for i in range(n)]
    teacher.generate(requests[:2])  # warm-up: first-call allocations and kernel selection
    print(f"local teacher: {model}, {n} requests, max_tokens={max_tokens}, torch threads={torch.get_num_threads()}, dtype={teacher.model.dtype}")

    started = time.perf_counter()
    single = [teacher.generate([r])[0] for r in requests]
    single_s = time.perf_counter() - started
    single_tokens = sum(c.completion_tokens for c in single)

    started = time.perf_counter()
    batched = teacher.generate(requests)
    batched_s = time.perf_counter() - started
    batched_tokens = sum(c.completion_tokens for c in batched)

    same = sum(a.text == b.text for a, b in zip(single, batched))
    rate_single, rate_batched = single_tokens / single_s, batched_tokens / batched_s
    print(f"  one at a time : {single_tokens:6d} tokens in {single_s:7.2f} s = {rate_single:8.1f} tok/s")
    print(f"  batched (B={batch_size:>2}): {batched_tokens:6d} tokens in {batched_s:7.2f} s = {rate_batched:8.1f} tok/s")
    print(f"  speed-up      : {rate_batched / rate_single:.2f}x (goal >= 5x); identical answers {same}/{n}")


def http_bench(n: int, concurrency: int, latency: float) -> None:
    from seedtune.teachers.openai_compat import OpenAITeacher

    server = Path(__file__).resolve().parent.parent / "tests" / "fake_openai_server.py"
    proc = subprocess.Popen([sys.executable, str(server), "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(proc.stdout.readline().split()[1])}/v1"
        requests = [Request.user(f"question {i}", max_tokens=16) for i in range(n)]
        OpenAITeacher("fake", base_url=url, concurrency=4).generate(requests[:4])  # warm-up (imports)
        print(f"openai client: fixed-latency server ({latency * 1000:.0f} ms), {n} requests")

        few = max(8, n // 20)
        started = time.perf_counter()
        OpenAITeacher("fake", base_url=url, concurrency=1).generate(requests[:few])
        seq_rate = few / (time.perf_counter() - started)
        print(f"  one at a time : {seq_rate:7.2f} req/s (ideal {1 / latency:.2f})")

        teacher = OpenAITeacher("fake", base_url=url, concurrency=concurrency)
        started = time.perf_counter()
        out = teacher.generate(requests)
        rate = n / (time.perf_counter() - started)
        ideal = concurrency / latency
        assert [c.text for c in out] == [f"echo: question {i}" for i in range(n)]
        print(f"  concurrency {concurrency:>3}: {rate:7.2f} req/s (ideal {ideal:.2f}) = {rate / ideal:.1%} of ideal "
              f"(goal >= 90%); {rate / seq_rate:.1f}x one at a time")
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="local teacher model, or 'tiny'")
    parser.add_argument("--n", type=int, default=16, help="requests for the local teacher")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--dtype", default=None, help="float32 (default) or bfloat16 (fast on CPUs with AVX-512 bf16 / AMX)")
    parser.add_argument("--http-n", type=int, default=320, help="requests for the HTTP client")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency in seconds (real LLM APIs: 0.5-10 s)")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    if not args.skip_local:
        local_bench(args.model, args.n, args.batch_size, args.max_tokens, args.dtype)
    if not args.skip_http:
        http_bench(args.http_n, args.concurrency, args.latency)


if __name__ == "__main__":
    main()

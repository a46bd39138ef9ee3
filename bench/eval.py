"""Eval generation throughput: batched (what `seedtune eval` does) vs one request at a time (what a
simple harness loop does), on the same prompts, in one invocation.

    python bench/eval.py                         # gemma-3-270m (pulled on first use), 24 prompts
    python bench/eval.py --model tiny            # the in-code tiny model, seconds, no download
    python bench/eval.py --model PATH --prompts 64 --max-new-tokens 48 --batch-size 16

Prompts are the held-out suite's zero-shot prompts in the model's own format, greedy decoding,
no cache. Prints tokens/s for both, the speed-up ratio, and how many answers agree (left padding
can change float rounding, so batched greedy output may differ in rare near-tie tokens). A third
line times a fully cached rerun through `CachedTeacher`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="model dir / embedded name, or 'tiny'")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    import torch

    from seedtune.cache import CachedTeacher, RequestCache
    from seedtune.evaluate.backends import choose_format, resolve_dir
    from seedtune.evaluate.prompting import Mode, build_prompt
    from seedtune.evaluate.suites import load_suite
    from seedtune.teachers import Request
    from seedtune.teachers.transformers import HFTeacher

    tmp = Path(tempfile.mkdtemp(prefix="seedtune-bench-eval-"))
    if args.model == "tiny":
        from seedtune.testing import save_tiny_model

        directory = save_tiny_model(tmp / "tiny", chat_template=False)
    else:
        directory = resolve_dir(args.model)
    fmt = choose_format(directory)
    suite = load_suite("heldout")
    pairs = [(t, i) for t in suite.tasks for i in t.instances][: args.prompts]
    requests = [Request(prompt=build_prompt(fmt, t, i, [], Mode("zero")).text, max_tokens=args.max_new_tokens,
                        temperature=0.0, stop=tuple(fmt.stop)) for t, i in pairs]
    print(f"model {directory.name} ({fmt.type} format), {len(requests)} prompts, max_new_tokens={args.max_new_tokens}, "
          f"torch threads={torch.get_num_threads()}")

    def run(batch_size: int, one_by_one: bool) -> tuple[float, int, list[str]]:
        teacher = HFTeacher(str(directory), batch_size=batch_size, prompt_format=fmt)
        teacher.generate(requests[:1])  # warm-up: first call pays for lazy init
        start = time.perf_counter()
        out = [c for r in requests for c in teacher.generate([r])] if one_by_one else teacher.generate(requests)
        seconds = time.perf_counter() - start
        return seconds, sum(c.completion_tokens for c in out), [c.text for c in out]

    s1, tok1, texts1 = run(1, one_by_one=True)
    print(f"one by one      : {s1:7.2f} s  {tok1:6d} tokens  {tok1 / s1:8.1f} tokens/s")
    sb, tokb, textsb = run(args.batch_size, one_by_one=False)
    print(f"batched (bs={args.batch_size:<2}) : {sb:7.2f} s  {tokb:6d} tokens  {tokb / sb:8.1f} tokens/s")
    same = sum(a == b for a, b in zip(texts1, textsb))
    print(f"speed-up (tokens/s ratio): {(tokb / sb) / (tok1 / s1):.2f}x; identical answers: {same}/{len(requests)}")

    cache = RequestCache(tmp / "cache.sqlite")
    cached = CachedTeacher(HFTeacher(str(directory), batch_size=args.batch_size, prompt_format=fmt), cache)
    cached.generate(requests)
    start = time.perf_counter()
    cached.generate(requests)
    print(f"cached rerun    : {time.perf_counter() - start:7.3f} s for {len(requests)} requests ({cached.hits} hits)")


if __name__ == "__main__":
    main()

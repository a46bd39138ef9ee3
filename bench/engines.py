"""Two local engines side by side on the same requests: transformers (`hf`) and llama.cpp.

Shared by bench/generate.py (teacher, chat requests) and bench/eval.py (student, raw prompts).
Runs alternate (hf, llamacpp, hf, llamacpp, ...) so that load from other processes falls on both
alike; each engine's rate is its best run. Agreement compares the greedy answers text by text:
identical share and mean ROUGE-L (the same tokenizer as eval's metric).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def side_by_side(builders: dict[str, Callable[[], Any]], requests: Sequence[Any], repeats: int = 2) -> dict[str, Any]:
    """Time each engine `repeats` times on `requests` (after one warm-up request); print tokens/s
    for each, the ratio of the last to the first, and how often their answers agree."""
    from seedtune.textsim import rouge_l

    teachers = {}
    for name, build in builders.items():
        started = time.perf_counter()
        teachers[name] = build()
        teachers[name].generate(list(requests[:1]))  # warm-up: lazy init, first-call allocations
        print(f"  {name:9s}: ready in {time.perf_counter() - started:6.1f} s ({type(teachers[name]).__name__}, "
              f"{getattr(teachers[name], 'model_id', '')})")
    best: dict[str, float] = {}
    answers: dict[str, list[str]] = {}
    for run in range(repeats):
        for name, teacher in teachers.items():
            started = time.perf_counter()
            out = teacher.generate(list(requests))
            seconds = time.perf_counter() - started
            tokens = sum(c.completion_tokens for c in out)
            best[name] = max(best.get(name, 0.0), tokens / seconds)
            answers[name] = [c.text for c in out]
            print(f"  run {run + 1} {name:9s}: {tokens:6d} tokens in {seconds:7.2f} s = {tokens / seconds:8.1f} tok/s")
    first, last = list(teachers)[0], list(teachers)[-1]
    pairs = list(zip(answers[first], answers[last]))
    same = sum(a == b for a, b in pairs)
    mean_rouge = sum(1.0 if a == b else rouge_l(b, a) for a, b in pairs) / max(1, len(pairs))
    ratio = best[last] / best[first]
    print(f"  best: {first} {best[first]:.1f} tok/s, {last} {best[last]:.1f} tok/s -> {ratio:.2f}x (goal >= 3x); "
          f"identical greedy answers {same}/{len(pairs)} ({same / max(1, len(pairs)):.0%}), mean ROUGE-L {mean_rouge:.3f}")
    return {"rates": best, "ratio": ratio, "identical": same, "n": len(pairs), "rouge_l": mean_rouge}

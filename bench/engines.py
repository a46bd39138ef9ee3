"""Local engines side by side on the same requests: transformers (`hf`), its fast settings, llama.cpp.

Shared by bench/generate.py (teacher, chat requests) and bench/eval.py (student, raw prompts).
Runs alternate (hf, llamacpp, hf, llamacpp, ...) so that load from other processes falls on both
alike; each engine's rate is its best run. The first engine is the baseline: every other one is
compared with it by name, tokens/s ratio and agreement of the greedy answers text by text
(identical share and mean ROUGE-L, the same tokenizer as eval's metric).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def side_by_side(builders: dict[str, Callable[[], Any]], requests: Sequence[Any], repeats: int = 2) -> dict[str, Any]:
    """Time each engine `repeats` times on `requests` (after one warm-up request); print tokens/s
    for each and, for every engine after the first, its ratio to the first and how often their
    answers agree. Returns the rates and, per engine after the first, `versus` that baseline."""
    teachers = {}
    for name, build in builders.items():
        started = time.perf_counter()
        teachers[name] = build()
        teachers[name].generate(list(requests[:1]))  # warm-up: lazy init, first-call allocations
        stats = getattr(teachers[name], "stats", {})  # HFTeacher: shortlist or full head, batching, and why
        notes = "".join(f", {key}: {stats[key]}" for key in ("head", "batching") if stats.get(key))
        print(f"  {name:13s}: ready in {time.perf_counter() - started:6.1f} s ({type(teachers[name]).__name__}, "
              f"{getattr(teachers[name], 'model_id', '')}{notes})")
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
            print(f"  run {run + 1} {name:13s}: {tokens:6d} tokens in {seconds:7.2f} s = {tokens / seconds:8.1f} tok/s")
    first = list(teachers)[0]
    print("  best: " + " | ".join(f"{name} {rate:.1f} tok/s" for name, rate in best.items()))
    versus = {name: _versus(answers[first], answers[name], best[name] / best[first])
              for name in list(teachers)[1:]}
    for name, v in versus.items():
        print(f"  {name} vs {first}: {v['ratio']:.2f}x tok/s (goal >= 3x); identical greedy answers "
              f"{v['identical']}/{v['n']} ({v['identical'] / max(1, v['n']):.0%}), mean ROUGE-L {v['rouge_l']:.3f}")
    return {"rates": best, "versus": versus}


def llamacpp_builders(build: Callable[[str | None], Any], gguf: str | None) -> dict[str, Callable[[], Any]]:
    """One llama.cpp engine per GGUF tensor type in `gguf` ("f16,bf16"; unset: the engine's
    default), named `llamacpp` for the first and `llamacpp-<type>` for the others, so that the
    precision a type gives up is printed beside the speed it buys."""
    types = [t.strip() for t in gguf.split(",") if t.strip()] if gguf else [None]
    return {("llamacpp" if i == 0 else f"llamacpp-{t}"): (lambda t=t: build(t)) for i, t in enumerate(types)}


def _versus(base: Sequence[str], other: Sequence[str], ratio: float) -> dict[str, Any]:
    """How `other`'s answers agree with the baseline's: identical count and mean ROUGE-L."""
    from seedtune.textsim import rouge_l

    pairs = list(zip(base, other))
    same = sum(a == b for a, b in pairs)
    mean_rouge = sum(1.0 if a == b else rouge_l(b, a) for a, b in pairs) / max(1, len(pairs))
    return {"ratio": ratio, "identical": same, "n": len(pairs), "rouge_l": mean_rouge}

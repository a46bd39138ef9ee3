"""Eval generation throughput, side by side in one run: the engines, and batched vs one at a time.

    python bench/eval.py                         # gemma-3-270m (pulled on first use), 24 prompts
    python bench/eval.py --model tiny            # the in-code tiny model, seconds, no download
    python bench/eval.py --skip-single --prompts 48 --max-new-tokens 32 --repeats 1 --tuned runs/x/3-train/all/model

Prompts are the held-out suite's zero-shot prompts in the model's own format, greedy decoding,
no cache. Engines, on the model and on each `--tuned` model (a trained directory: merged weights,
or a LoRA adapter merged first), runs alternating:

- `hf`: transformers as eval ran before: `generate` per static batch of `--batch-size` (8), fp32
  with the full LM head;
- `hf-fast`: what `seedtune eval` runs now: continuous batching (teachers/continuous.py) of up to
  `--fast-batch-size` rows (eval's `batch_size` default, 32) on the exact shortlist head
  (teachers/head.py); `--static` adds `hf-fast-static`, the same with `generate` per static batch,
  to show what each part buys;
- `llamacpp`: the llama.cpp engine at the fast batch, when llama-cpp-python is installed.

Each engine after `hf` is compared with `hf` by name: tokens/s ratio, identical greedy answers and
mean ROUGE-L. Unless `--skip-single`, first one request at a time against batched `hf-fast` (left
padding can change float rounding, so rare near-tie tokens may differ), and a fully cached rerun
through `CachedTeacher`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    from seedtune.evaluate.backends import resolve_dir
    from seedtune.evaluate.config import EvalConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="model dir / embedded name, or 'tiny'")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8, help="the hf baseline's batch (eval's old default)")
    parser.add_argument("--fast-batch-size", type=int, default=EvalConfig.model_fields["batch_size"].default,
                        help="hf-fast's and llamacpp's batch (default: eval's batch_size default)")
    parser.add_argument("--tuned", action="append", default=[], help="a trained model directory to compare engines on too")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both engines (default: all cores)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs per engine (the best counts)")
    parser.add_argument("--skip-single", action="store_true", help="skip one-by-one vs batched and the cached rerun")
    parser.add_argument("--skip-engines", action="store_true")
    parser.add_argument("--static", action="store_true", help="also hf-fast with static batches (generate per batch)")
    parser.add_argument("--gguf", default=None, help="the llama.cpp engine's tensor type (f16 default, bf16, f32, q8_0); several, comma-separated, run side by side")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="seedtune-bench-eval-"))
    if args.model == "tiny":
        from seedtune.testing import save_tiny_model

        directory = save_tiny_model(tmp / "tiny", chat_template=False)
    else:
        directory = resolve_dir(args.model)
    fmt, requests = _requests(directory, args.prompts, args.max_new_tokens)
    if not args.skip_single:
        _single_vs_batched(directory, fmt, requests, args.fast_batch_size, tmp)
    if args.skip_engines:
        return
    import importlib.util

    llamacpp = importlib.util.find_spec("llama_cpp") is not None
    if not llamacpp:
        print("engines: llamacpp skipped, llama-cpp-python is not installed (pip install 'seedtune[speed]')")
    for model_dir in [directory, *map(Path, args.tuned)]:
        _engines(model_dir, args, llamacpp)


def _requests(directory: Path, prompts: int, max_new_tokens: int) -> tuple[Any, list[Any]]:
    """The held-out suite's zero-shot prompts in the model's own format, greedy."""
    from seedtune.evaluate.backends import choose_format
    from seedtune.evaluate.prompting import Mode, build_prompt
    from seedtune.evaluate.suites import load_suite
    from seedtune.teachers import Request

    fmt = choose_format(directory)
    suite = load_suite("heldout")
    pairs = [(t, i) for t in suite.tasks for i in t.instances][:prompts]
    return fmt, [Request(prompt=build_prompt(fmt, t, i, [], Mode("zero")).text, max_tokens=max_new_tokens,
                         temperature=0.0, stop=tuple(fmt.stop)) for t, i in pairs]


def _engines(directory: Path, args: argparse.Namespace, llamacpp: bool) -> None:
    import torch

    from engines import side_by_side
    from seedtune.teachers.transformers import HFTeacher

    if args.threads:
        torch.set_num_threads(args.threads)
    fmt, requests = _requests(directory, args.prompts, args.max_new_tokens)
    print(f"engines: {directory.name} ({fmt.type} format), {len(requests)} prompts, max_new_tokens={args.max_new_tokens}, "
          f"batch hf {args.batch_size} / hf-fast {args.fast_batch_size}, threads {args.threads or torch.get_num_threads()}")
    builders = {"hf": lambda: HFTeacher(str(directory), batch_size=args.batch_size, prompt_format=fmt, shortlist="off",
                                        batching="static"),
                "hf-fast": lambda: HFTeacher(str(directory), batch_size=args.fast_batch_size, prompt_format=fmt)}
    if args.static:
        builders["hf-fast-static"] = lambda: HFTeacher(str(directory), batch_size=args.fast_batch_size, prompt_format=fmt,
                                                      batching="static")
    if llamacpp:
        from engines import llamacpp_builders
        from seedtune.teachers.llamacpp import LlamaCppTeacher

        builders.update(llamacpp_builders(lambda gguf: LlamaCppTeacher(
            str(directory), batch_size=args.fast_batch_size, prompt_format=fmt, dtype=gguf, threads=args.threads), args.gguf))
    side_by_side(builders, requests, args.repeats)


def _single_vs_batched(directory: Path, fmt: Any, requests: list[Any], batch_size: int, tmp: Path) -> None:
    import torch

    from seedtune.cache import CachedTeacher, RequestCache
    from seedtune.teachers.transformers import HFTeacher

    print(f"model {directory.name} ({fmt.type} format), {len(requests)} prompts, max_new_tokens={requests[0].max_tokens}, "
          f"torch threads={torch.get_num_threads()}")

    def run(size: int, one_by_one: bool) -> tuple[float, int, list[str]]:
        teacher = HFTeacher(str(directory), batch_size=size, prompt_format=fmt)
        teacher.generate(requests[:1])  # warm-up: first call pays for lazy init
        start = time.perf_counter()
        out = [c for r in requests for c in teacher.generate([r])] if one_by_one else teacher.generate(requests)
        seconds = time.perf_counter() - start
        return seconds, sum(c.completion_tokens for c in out), [c.text for c in out]

    s1, tok1, texts1 = run(1, one_by_one=True)
    print(f"one by one      : {s1:7.2f} s  {tok1:6d} tokens  {tok1 / s1:8.1f} tokens/s")
    sb, tokb, textsb = run(batch_size, one_by_one=False)
    print(f"batched (bs={batch_size:<2}) : {sb:7.2f} s  {tokb:6d} tokens  {tokb / sb:8.1f} tokens/s")
    same = sum(a == b for a, b in zip(texts1, textsb))
    print(f"speed-up (tokens/s ratio): {(tokb / sb) / (tok1 / s1):.2f}x; identical answers: {same}/{len(requests)}")

    cache = RequestCache(tmp / "cache.sqlite")
    cached = CachedTeacher(HFTeacher(str(directory), batch_size=batch_size, prompt_format=fmt), cache)
    cached.generate(requests)
    start = time.perf_counter()
    cached.generate(requests)
    print(f"cached rerun    : {time.perf_counter() - start:7.3f} s for {len(requests)} requests ({cached.hits} hits)")


if __name__ == "__main__":
    main()

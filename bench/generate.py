"""Generation throughput, ours against the naive way, side by side in one run.

1. Local teacher: `HFTeacher` batched (requests sorted by length, left-padded, batch of B) against
   the same teacher answering one request at a time — completion tokens per second, and the ratio.
   Goal: >= 5x on a small CPU.
2. OpenAI-compatible client: `OpenAITeacher` at concurrency C against a local server that answers
   every request after a fixed latency L. The ideal rate is C / L requests per second; we print
   the share of it reached (goal: >= 90%) and the one-at-a-time rate for contrast.
3. Engines: the same teacher on transformers as before (`hf`: `generate` per static batch, full
   head), as it runs now (`hf-fast`: continuous batching, the shortlist head for greedy rows) and,
   when llama-cpp-python is installed, on llama.cpp (`llamacpp`), side by side in one run: tokens/s
   of each, the ratio to `hf` (goal >= 3x), identical answers and mean ROUGE-L.
4. Yield (`--yield`): Self-Instruct with the quickstart's settings against Magpie on the same local
   teacher, one after the other in one process, each with an empty request cache. Yield = generated
   records that survive the quickstart's curation (seeds in the pool, as there) per minute of
   teacher time.

    python bench/generate.py                      # both parts, embedded SmolLM2-135M teacher
    python bench/generate.py --model tiny --n 32  # the in-code tiny model (seconds, for CI)
    python bench/generate.py --skip-local --skip-http --n 32 --batch-size 16   # engines only
    python bench/generate.py --skip-local --concurrency 32 --latency 0.1
    python bench/generate.py --yield --skip-local --skip-http --magpie-target 48 --out yield/

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


def _model_path(model: str) -> str:
    """The model name as given, or for 'tiny' the in-code tiny model written to a temporary folder."""
    if model != "tiny":
        return model
    from seedtune.testing import save_tiny_model

    return str(save_tiny_model(Path(tempfile.mkdtemp()) / "tiny"))


def local_bench(model: str, n: int, batch_size: int, max_tokens: int, dtype: str | None) -> None:
    import torch

    from seedtune.teachers.transformers import HFTeacher

    model = _model_path(model)
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


def engines_bench(model: str, n: int, batch_size: int, max_tokens: int, dtype: str | None, threads: int | None,
                  repeats: int, temperature: float = 0.0, gguf: str | None = None, hf_bf16: bool = False) -> None:
    import importlib.util

    import torch

    from engines import side_by_side
    from seedtune.teachers.transformers import HFTeacher

    if threads:
        torch.set_num_threads(threads)
    model = _model_path(model)
    # temperature > 0 is the generation workload (answers of varied length, seeded per request);
    # the two engines' draws differ by design there, so only the greedy agreement is meaningful.
    requests = [Request.user(PROMPTS[i % len(PROMPTS)] + ("" if i < len(PROMPTS) else f" (variant {i})"),
                             max_tokens=max_tokens, temperature=temperature, seed=i) for i in range(n)]
    print(f"engines: {model}, {n} requests, max_tokens={max_tokens}, temperature={temperature}, batch {batch_size}, "
          f"threads {threads or torch.get_num_threads()}, hf dtype {dtype or 'float32'}")
    # The baseline is transformers as it was: `generate` per static batch on the full head.
    builders = {"hf": lambda: HFTeacher(model, batch_size=batch_size, dtype=dtype, shortlist="off", batching="static"),
                "hf-fast": lambda: HFTeacher(model, batch_size=batch_size, dtype=dtype)}
    if hf_bf16:
        # The yardstick for a bf16 GGUF: the same baseline with bf16 weights and activations shows
        # how far bf16 itself moves the answers, whatever the engine.
        builders["hf-bf16"] = lambda: HFTeacher(model, batch_size=batch_size, dtype="bfloat16", shortlist="off",
                                                batching="static")
    if importlib.util.find_spec("llama_cpp") is None:
        print("engines: llamacpp skipped, llama-cpp-python is not installed (pip install 'seedtune[speed]')")
    else:
        from engines import llamacpp_builders
        from seedtune.teachers.llamacpp import LlamaCppTeacher

        builders.update(llamacpp_builders(lambda t: LlamaCppTeacher(model, batch_size=batch_size, dtype=t, threads=threads), gguf))
    side_by_side(builders, requests, repeats)


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


def yield_bench(model: str, batch_size: int, dtype: str | None, magpie_options: dict, out: Path,
                methods: tuple[str, ...] = ("self-instruct", "magpie")) -> None:
    import yaml

    from seedtune.curate import curate
    from seedtune.curate.config import CurateConfig
    from seedtune.data import seed_tasks_path
    from seedtune.formats import read_records
    from seedtune.generate.common import TeacherConfig
    from seedtune.generate.magpie import MagpieConfig, magpie
    from seedtune.generate.self_instruct import SelfInstructConfig, self_instruct
    from seedtune.teachers.transformers import HFTeacher

    quickstart = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples" / "quickstart.yaml").read_text())
    seeds = read_records(seed_tasks_path())
    teacher = HFTeacher(model, batch_size=batch_size, dtype=dtype)
    out.mkdir(parents=True, exist_ok=True)
    teacher_config = {"teacher": f"hf:{model}", "batch_size": batch_size, "dtype": dtype}
    runs = {
        "self-instruct": (self_instruct, SelfInstructConfig.model_validate(
            {**quickstart["generate"]["self_instruct"], "teacher": {**teacher_config, "cache": str(out / "self-instruct.sqlite")}})),
        "magpie": (magpie, MagpieConfig(teacher=TeacherConfig(**teacher_config, cache=str(out / "magpie.sqlite")),
                                        **magpie_options)),
    }
    print(f"yield: teacher {model} (batch {batch_size}, {dtype or 'float32'}), curated as the quickstart curates")
    rates = {}
    for name, (method, config) in runs.items():
        if name not in methods:
            continue
        for stale in out.glob(f"{name}*"):
            if stale.is_file():  # a fresh run and cache each time: resuming would measure the cache, not the teacher
                stale.unlink()
        summary = method(seeds, out / f"{name}.jsonl", config, teacher=teacher, progress=False)
        generated = read_records(out / f"{name}.jsonl")
        result = curate([*seeds, *generated], out / f"{name}-curated", CurateConfig.model_validate(quickstart["curate"]))
        kept = sum(r.source != "seed" for r in result.kept)
        minutes = summary["seconds"] / 60
        rates[name] = kept / minutes if minutes else 0.0
        print(f"  {name:13s}: {summary['accepted']:4d} generated, {kept:4d} kept after curation in {summary['seconds']:7.1f} s "
              f"of teacher time = {rates[name]:6.2f} kept/min ({summary['tokens']['completion']} completion tokens, "
              f"{summary['tokens']['completion'] / max(kept, 1):.0f} per kept record: the load-independent cost)")
    if rates.get("self-instruct") and "magpie" in rates:
        print(f"  magpie / self-instruct: {rates['magpie'] / rates['self-instruct']:.1f}x kept per minute")


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
    parser.add_argument("--yield", dest="yield_", action="store_true", help="Self-Instruct vs Magpie: kept records per teacher minute")
    parser.add_argument("--magpie-target", type=int, default=48, help="conversations Magpie keeps before curation")
    parser.add_argument("--magpie-max-tokens", type=int, default=256, help="Magpie's answer token budget")
    parser.add_argument("--magpie-lang", default="en", help="Magpie's request language: en, zh or auto")
    parser.add_argument("--magpie-answer-system", default=None, help="Magpie's system prompt for answers only (e.g. one that asks for answers under 120 words)")
    parser.add_argument("--methods", default="self-instruct,magpie", help="which of the yield part's methods to run")
    parser.add_argument("--out", type=Path, default=Path("bench-yield"), help="where the yield part writes its data")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both engines (default: each engine's own: all cores)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs per engine (the best counts)")
    parser.add_argument("--gguf", default=None, help="engines part: the llama.cpp engine's tensor type (f16 default, bf16, f32, q8_0); several, comma-separated, run side by side")
    parser.add_argument("--temperature", type=float, default=0.0, help="engines part: 0 (greedy, answers comparable) or sampled")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--hf-bf16", action="store_true",
                        help="engines part: also the baseline in bf16, the precision yardstick for --gguf bf16")
    parser.add_argument("--skip-engines", action="store_true")
    args = parser.parse_args()
    if not args.skip_local:
        local_bench(args.model, args.n, args.batch_size, args.max_tokens, args.dtype)
    if not args.skip_engines:
        engines_bench(args.model, args.n, args.batch_size, args.max_tokens, args.dtype, args.threads, args.repeats,
                      args.temperature, args.gguf, args.hf_bf16)
    if not args.skip_http:
        http_bench(args.http_n, args.concurrency, args.latency)
    if args.yield_:
        magpie_options = {"target": args.magpie_target, "max_tokens": args.magpie_max_tokens, "lang": args.magpie_lang,
                          "requests_per_round": args.batch_size, "query_max_tokens": 64, "answer_system": args.magpie_answer_system}
        yield_bench(args.model, args.batch_size, args.dtype, magpie_options, args.out, tuple(args.methods.split(",")))


if __name__ == "__main__":
    main()

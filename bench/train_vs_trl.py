"""seedtune's SFT engine vs TRL's SFTTrainer: same model, data, LoRA, batch and max length.

Runs, one after the other in fresh subprocesses (so peak RSS is each run's own):

  trl            SFTTrainer with its defaults (padded batches, completion-only loss), LoRA r16
  trl-packing    SFTTrainer with padding-free BFD packing (packing=True, padding_free=True)
  seedtune       seedtune.train with its defaults (BFD packing, head-only chunked loss, bf16, speedups)
  seedtune-plain seedtune with `speedups=false` (SDPA over the packed mask, peft's LoRA forward, AdamW's
                 loop): the engine before speed.py, to measure the speedups from one checkout
  seedtune-same  seedtune with packing off, visiting the same samples per step as `trl`
                 (TRL is fed our data order with a sequential sampler) - for the loss comparison

Prints real (non-padding) tokens/s, peak RSS, final loss (mean of the last steps), ratios to
TRL's default, and MFU against the bf16 matmul peak measured here (best of three timings of 2048^2
matmuls). Two MFU figures: `MFU` counts 4 x decoder parameters per token for LoRA (forward 2N +
input-gradient 2N; frozen weights get no weight-gradient), 6 x for full fine-tuning, and nothing
else; `model` (seedtune runs) is the trainer's own count of the model FLOPs it did
(`metrics.model_flops`, train/flops.py): the same plus causal attention per sample and the LM
head at trained positions, as MFU is usually counted (PaLM, appendix B).

`--profile` runs torch.profiler over two steps of each seedtune run and prints where the time
goes (top ops by own CPU time, and the share of matmuls, attention, elementwise, loss and the
optimizer). `--full` trains every weight (TRL without peft) instead of LoRA r16.

    python bench/train_vs_trl.py --model smollm2-135m-instruct --steps 30
    python bench/train_vs_trl.py --model smollm2-135m-instruct --steps 6 --runs seedtune,seedtune-plain --profile
    python bench/train_vs_trl.py --model gemma-3-270m --steps 30 --runs seedtune,trl --full
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# --- shared setup ---------------------------------------------------------------------------

def load_records(n_synthetic: int = 400):
    """The shipped seed tasks as records (one per instance), or synthetic ones if absent."""
    try:
        from seedtune.data import seed_tasks_path
        from seedtune.formats import read_records

        records = read_records(seed_tasks_path())
        if records:
            return records
    except Exception as exc:  # pragma: no cover - data helper not landed
        print(f"(seed tasks unavailable: {exc}; using synthetic records)", file=sys.stderr)
    import random

    from seedtune.records import Record

    rng = random.Random(0)
    words = "the model learns to answer short questions about cities rivers numbers and colours".split()
    return [Record(instruction=" ".join(rng.choices(words, k=rng.randint(5, 30))),
                   output=" ".join(rng.choices(words, k=rng.randint(10, 120)))) for _ in range(n_synthetic)]


def bf16_peak_gflops(n: int = 2048, reps: int = 5, trials: int = 3) -> float:
    """The best of `trials` timings of 2048^2 bf16 matmuls: the highest rate seen is the peak (a
    lower one would flatter MFU; on a shared VM single timings of the same matmul vary by 1.5x)."""
    import torch

    a = torch.randn(n, n, dtype=torch.bfloat16)
    b = torch.randn(n, n, dtype=torch.bfloat16)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(trials):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9)
    return best


def decoder_params(model_dir: str) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from seedtune.train.flops import Shape

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return Shape.of(model).decoder_params  # the trainer's own count (train/flops.py)


# --- one run per subprocess -------------------------------------------------------------------

def run_seedtune(args: dict) -> dict:
    from seedtune.train import TrainConfig
    from seedtune.train.sft import train

    cfg = TrainConfig(model=args["model"], data=args["data"], output=args["out"], max_steps=args["steps"],
                      batch_size=args["batch"], max_length=args["max_length"], lora_r=16, learning_rate=2e-4,
                      eval_fraction=0.0, tensorboard=False, merge=False, packing=args["packing"],
                      prompt_format=args["prompt_format"], warmup_ratio=0.0, lr_scheduler="linear",
                      max_grad_norm=1.0, full=args["full"], speedups=args["speedups"])
    prof = _profiler() if args["profile"] else None
    res = train(cfg, progress=False, log=lambda m: print(m, file=sys.stderr), on_step=prof and (lambda _s: prof.step()))
    m = res.metrics
    out = {"tokens": m["train_tokens"], "seconds": m["train_seconds"], "losses": res.losses,
           "model_flops": m.get("model_flops")}
    if prof:
        prof.stop()
        out["profile"] = _costs(prof)
    return out


# --- the profile ----------------------------------------------------------------------------

# Op name -> cost class. Attention's matmuls are `bmm` (segment attention) or the SDPA kernels;
# the linear layers and the LM head are `mm`/`addmm`; the loss's own work is its softmax pass.
CLASSES = [("attention", ("scaled_dot_product", "bmm", "softmax", "masked_fill", "triu", "tril")),
           ("matmul (linear, LoRA, head)", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul")),
           ("loss (logsumexp, softmax-onehot)", ("logsumexp", "exp_", "aten::sub", "gather", "index_put")),
           ("optimizer", ("adam", "sqrt", "lerp", "_foreach")),
           ("copies and casts", ("copy_", "_to_copy", "cat", "stack", "contiguous", "clone")),
           ("elementwise (norm, rotary, act, residual)", ("mul", "add", "silu", "pow", "mean", "rsqrt", "neg", "div",
                                                          "sum", "fill_", "zero_", "where"))]


def _profiler():
    from torch.profiler import ProfilerActivity, profile, schedule

    prof = profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=2, repeat=1))
    prof.start()
    return prof


def _costs(prof) -> dict:
    """Top five ops by own CPU time, and each cost class's share of all own CPU time."""
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:5]
    classes: dict[str, float] = {}
    for e in events:
        name = e.key.lower()
        cls = next((c for c, keys in CLASSES if any(k.lower() in name for k in keys)), "other (Python, dispatch)")
        classes[cls] = classes.get(cls, 0.0) + e.self_cpu_time_total / total
    return {"top": [[e.key[:48], e.self_cpu_time_total / total, e.count] for e in top],
            "classes": sorted(classes.items(), key=lambda kv: -kv[1]), "cpu_seconds": total / 1e6}


def print_profiles(results: dict) -> None:
    """Each profiled run's top five ops and cost classes, side by side."""
    runs = [(k, r["profile"]) for k, r in results.items() if "profile" in r]
    if not runs:
        return
    print("\nprofile (2 steps, own CPU time):")
    for kind, p in runs:
        print(f"  {kind}: {p['cpu_seconds']:.1f} CPU-s")
        for name, share, count in p["top"]:
            print(f"    {share:6.1%}  {name}  ({count} calls)")
        print("    classes: " + ", ".join(f"{c} {v:.0%}" for c, v in p["classes"]))


def run_trl(args: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(args["model"])
    model = AutoModelForCausalLM.from_pretrained(args["model"])
    rows = [json.loads(line) for line in Path(args["pairs"]).read_text().splitlines()]
    ds = Dataset.from_list(rows)
    packing = args["packing"]
    cfg = SFTConfig(output_dir=args["out"], use_cpu=not torch.cuda.is_available(), max_steps=args["steps"],
                    per_device_train_batch_size=args["batch"], max_length=args["max_length"], learning_rate=2e-4,
                    lr_scheduler_type="linear", logging_steps=1, save_strategy="no", report_to=[],
                    packing=packing, padding_free=packing, dataset_num_proc=None, seed=0)
    seen = {"tokens": 0, "t0": None}

    class Count(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if seen["t0"] is None:
                seen["t0"] = time.perf_counter()

    class Trainer(SFTTrainer):
        # Feed batches in the given order so `trl` and `seedtune-same` see the same samples per step.
        def _get_train_sampler(self, *a, **kw):
            return torch.utils.data.SequentialSampler(self.train_dataset) if not packing else super()._get_train_sampler(*a, **kw)

        def compute_loss(self, model, inputs, *a, **kw):
            mask = inputs.get("attention_mask")
            seen["tokens"] += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            return super().compute_loss(model, inputs, *a, **kw)

    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = Trainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                      peft_config=None if args["full"] else lora, callbacks=[Count()])
    trainer.train()
    seconds = time.perf_counter() - seen["t0"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"tokens": seen["tokens"], "seconds": seconds, "losses": losses,
            "bf16": bool(cfg.bf16), "gradient_checkpointing": bool(cfg.gradient_checkpointing)}


def child(kind: str, args: dict, out: str) -> None:
    result = run_trl(args) if kind.startswith("trl") else run_seedtune(args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps(result))


# --- driver ---------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--runs", default="seedtune,trl,trl-packing,seedtune-same")
    ap.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA r16")
    ap.add_argument("--profile", action="store_true", help="profile two steps of each seedtune run")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], json.loads(a.child[1]), a.child[2])
        return

    from seedtune.models import resolve_model
    from seedtune.prompts.formats import for_model
    from seedtune.train.data import prepare
    from seedtune.train.sft import _DataOrder
    from transformers import AutoTokenizer

    model_dir = str(resolve_model(a.model))
    tok = AutoTokenizer.from_pretrained(model_dir)
    fmt = for_model(tok, "auto")
    records = load_records()
    work = Path(tempfile.mkdtemp(prefix="train-vs-trl-"))
    data = work / "records.jsonl"
    data.write_text("".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    # The order `seedtune-same` visits rows (packing off: one kept record per row), given to TRL as is.
    prep = prepare(records, [], fmt, tok, a.max_length, "drop")
    kept = [records[ex.index] for ex in prep.train]
    order = _DataOrder(len(kept), 0).take(0, a.steps * a.batch_size)
    pairs = work / "pairs.jsonl"
    with pairs.open("w", encoding="utf-8") as f:
        for i in order:
            prompt, target = fmt.render(kept[i])
            # TRL appends EOS itself; give it the same prompt/completion text seedtune trains on.
            f.write(json.dumps({"prompt": prompt, "completion": target}, ensure_ascii=False) + "\n")

    peak = bf16_peak_gflops()
    n_dec = decoder_params(model_dir)
    print(f"model {a.model}: {n_dec / 1e6:.1f}M decoder params; {len(kept)} records; batch {a.batch_size}, "
          f"max length {a.max_length}, {a.steps} steps; bf16 matmul peak {peak:.0f} GFLOP/s; "
          f"{os.cpu_count()} CPUs, torch threads default; {'full fine-tuning' if a.full else 'LoRA r16'}; "
          f"load average {os.getloadavg()[0]:.1f} (a loaded machine slows every run)")
    results = {}
    for kind in a.runs.split(","):
        args = {"model": model_dir, "data": str(data), "pairs": str(pairs), "out": str(work / kind), "steps": a.steps,
                "batch": a.batch_size, "max_length": a.max_length, "packing": kind in ("seedtune", "seedtune-plain", "trl-packing"),
                "prompt_format": "auto", "full": a.full, "speedups": kind != "seedtune-plain",
                "profile": a.profile and kind.startswith("seedtune")}
        out = work / f"{kind}.json"
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(args), str(out)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{kind}: FAILED\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(out.read_text())
        r["tps"] = r["tokens"] / r["seconds"]
        tail = r["losses"][-max(1, len(r["losses"]) // 5):]
        r["final_loss"] = sum(tail) / len(tail)
        r["mfu"] = r["tps"] * (6 if a.full else 4) * n_dec / (peak * 1e9)
        # The trainer's own count (train/flops.py): + attention + the LM head at trained positions.
        r["mfu_model"] = r["model_flops"] / r["seconds"] / (peak * 1e9) if r.get("model_flops") else None
        r["wall"] = time.perf_counter() - t
        results[kind] = r
        model_mfu = f" / model {r['mfu_model']:.1%}" if r["mfu_model"] else ""
        print(f"{kind:14s} {r['tps']:8.1f} tok/s  peak RSS {r['peak_rss_mb']:7.0f} MB  final loss {r['final_loss']:.4f}  "
              f"MFU {r['mfu']:.1%}{model_mfu}  ({r['tokens']} tokens in {r['seconds']:.0f}s; wall {r['wall']:.0f}s)", flush=True)
    print_profiles(results)
    if "seedtune" in results and "seedtune-plain" in results:
        fast, plain = results["seedtune"], results["seedtune-plain"]
        print(f"\nspeedups: seedtune x{fast['tps'] / plain['tps']:.2f} tokens/s over seedtune-plain "
              f"(MFU {plain['mfu']:.1%} -> {fast['mfu']:.1%}); final loss {fast['final_loss']:.4f} vs "
              f"{plain['final_loss']:.4f} ({fast['final_loss'] / plain['final_loss'] - 1:+.2%})")
    base = results.get("trl")
    if base:
        print("\nratios vs TRL default:")
        for kind, r in results.items():
            print(f"  {kind:14s} tokens/s x{r['tps'] / base['tps']:.2f}   peak RSS x{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}")
        if "seedtune-same" in results:
            gap = results["seedtune-same"]["final_loss"] / base["final_loss"] - 1
            print(f"  final loss, same samples per step: seedtune {results['seedtune-same']['final_loss']:.4f} vs TRL "
                  f"{base['final_loss']:.4f} ({gap:+.1%}; goal within 2%)")
        print(f"  TRL default ran with bf16={base.get('bf16')} gradient_checkpointing={base.get('gradient_checkpointing')}")


if __name__ == "__main__":
    main()

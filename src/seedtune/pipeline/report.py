"""The run report: what the pipeline did at every stage, then the evaluation that proves it.

`runs/<name>/report/report.html` opens with the verdict (tuned vs base, with a confidence
interval), then the stages and their times, the data funnel, training figures, and the full
evaluation report (per category, per mode, side-by-side answers). `lineage.json` at the run
root links seeds, teacher, filters, the training-data hash, the model and its scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedtune.io import sha256_file, write_json
from seedtune.pipeline.runner import RunContext
from seedtune.report import Callout, Document, Paragraph, Table, write_report


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_pipeline_report(ctx: RunContext, out: Path) -> dict[str, Any]:
    from seedtune.evaluate.report import build_document
    from seedtune.evaluate.suites import load_suite, verifiable_name

    cfg = ctx.config
    eval_dir, train_dir, curate_dir = ctx.stage_dir("eval"), ctx.stage_dir("train"), ctx.stage_dir("curate")
    scores = _load_json(eval_dir / "scores.json")
    funnel = _load_json(curate_dir / "funnel.json")
    metrics = _load_json(train_dir / "model" / "metrics.json")
    doc = Document(title=f"seedtune run '{cfg.name}'",
                   subtitle=f"base model {cfg.train.model}; run folder {ctx.run_dir}")

    verdict = doc.section("Verdict")
    headline = _headline(scores)
    verdict.add(*headline)

    stages = doc.section("Stages")
    stages.add(Table(["stage", "status", "seconds", "folder"],
                     [[o.name, "reused (unchanged)" if o.skipped else "ran", round(o.run_seconds, 1), str(o.folder)]
                      for o in ctx.outcomes.values()],
                     caption="Seconds are the time of the stage's last real run; a reused stage had the same "
                             "inputs and config as that run."))

    data = doc.section("Data")
    gen = ctx.outcomes["generate"].summary
    rows = [["seed tasks", gen.get("seeds")]]
    for method in ("self_instruct", "evol", "respond", "constraints"):
        if method in gen:
            summary = gen[method]
            rows.append([f"{method.replace('_', '-')} accepted", summary.get("accepted")])
            rows.append([f"{method.replace('_', '-')} rejected", summary.get("rejected")])
    rows.append(["training pool", gen.get("pool")])
    data.add(Table(["what", "records"], rows))
    if funnel:
        data.add(Table(["filter", "in", "out", "dropped", "top reason"],
                       [[s["filter"], s["in"], s["out"], s["dropped"],
                         s["top_reasons"][0]["reason"] if s.get("top_reasons") else ""] for s in funnel.get("steps", [])],
                       caption=f"Curation funnel: {funnel.get('kept')} of {funnel.get('input')} kept; every drop has its "
                               f"reason in 2-curate/dropped.jsonl."))

    if metrics:
        training = doc.section("Training")
        keys = ("train_tokens", "tokens_per_second", "peak_rss_mb", "final_loss", "eval_loss", "steps", "seconds")
        training.add(Table(["metric", "value"], [[k, metrics[k]] for k in keys if k in metrics],
                           caption=f"LoRA r={cfg.train.lora_r}" if not cfg.train.full else "full fine-tuning"))

    if "preference" in ctx.outcomes:
        _preference_section(doc, ctx.outcomes["preference"].summary)

    if scores:
        rows_ = _load_rows(eval_dir / "predictions.jsonl")
        reference = next((s for s in cfg.eval.suites if not verifiable_name(s)), None)
        eval_doc = build_document(scores, rows_, load_suite(reference) if reference else None, cfg.eval.examples)
        doc.sections.extend(s for s in eval_doc.sections if s.title != "Summary")
    paths = write_report(doc, out, "report")
    lineage = _lineage(ctx, scores, metrics)
    write_json(ctx.run_dir / "lineage.json", lineage)
    return {"report": str(paths["html"]), "headline": headline[0].text if headline else ""}


def _preference_section(doc: Document, summary: dict[str, Any]) -> None:
    """Pairs built and dropped (by reason), and what DPO did with them."""
    pairs, dpo = summary.get("pairs") or {}, summary.get("dpo") or {}
    sec = doc.section("Preference pairs and DPO")
    rows = [[f"pairs by {how}", n] for how, n in (pairs.get("pairs_by_how") or {}).items()]
    rows += [[f"dropped: {reason}", n] for reason, n in sorted((pairs.get("rejected_by_reason") or {}).items())]
    rows += [["mean length chosen / rejected", f"{pairs.get('mean_length_chosen')} / {pairs.get('mean_length_rejected')}"]]
    sec.add(Table(["what", "count"], rows, caption=f"From {summary.get('prompts')} prompts; every dropped prompt has "
                                                   "its reason in 3b-preference/pairs.rejected.jsonl."))
    sec.add(Table(["metric", "value"], [[k, v] for k, v in dpo.items() if v is not None],
                  caption="DPO: rewards are beta x (policy - reference) answer log-probs; margin = chosen - rejected."))


def _headline(scores: dict[str, Any]) -> list[Any]:
    if not scores:
        return [Callout("The evaluation produced no scores.", "warning")]
    blocks = []
    for d in scores.get("deltas", {}).get("models", []):
        o = d["overall"]
        better = o["ci_low"] > 0
        worse = o["ci_high"] < 0
        kind = "success" if better else "warning" if worse else "info"
        verdict = "better" if better else "worse" if worse else "not clearly different"
        blocks.append(Callout(
            f"**{d['b']}** vs **{d['a']}** ({d['mode']}): {o['mean_b']:.3f} vs {o['mean_a']:.3f} "
            f"(difference {o['delta']:+.3f}, 95% CI [{o['ci_low']:+.3f}, {o['ci_high']:+.3f}]) — {verdict}; "
            f"{o['wins']} instances better, {o['losses']} worse, {o['ties']} equal.", kind))
    from seedtune.evaluate.report_if import summary_callouts

    blocks += summary_callouts(scores.get("instructions") or {})
    judge = scores.get("judge") or {}
    check = judge.get("check") or {}
    trust = (f" The judge picked the known-right answer in {check['accuracy']:.0%} of {check['n']} check pairs "
             f"(chance 50%)" if check.get("n") else "")
    for key, per_mode in (judge.get("pairwise") or {}).items():
        for mode, pair in per_mode.items():
            line = (f"Judge `{judge.get('judge')}`, {key} ({mode}): win rate {pair['win_rate']:.2f} "
                    f"({pair['wins']} wins, {pair['ties']} ties, {pair['losses']} losses), swap consistency "
                    f"{pair['swap_consistency']:.2f}.{trust}")
            if judge.get("warning"):  # set by the eval stage when the judge failed its check
                blocks.append(Callout(line + ": this win rate is not evidence either way.", "warning"))
            else:
                blocks.append(Paragraph(line + ("." if trust else "")))
    return blocks


def _lineage(ctx: RunContext, scores: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """Seeds -> teacher -> filters -> data hash -> model -> scores, in one file."""
    from seedtune.pipeline.stages import seeds_path

    cfg = ctx.config
    seeds = seeds_path(cfg)
    kept = ctx.stage_dir("curate") / "kept.jsonl"
    gen = cfg.generate
    teachers = sorted({c.teacher.teacher for c in (gen.self_instruct, gen.evol, gen.respond) if c is not None})
    overall = {model: {mode: cell["overall"]["score"] if "overall" in cell else cell.get("prompt_loose")
                       for mode, cell in modes.items()}
               for model, modes in scores.get("results", {}).items()}
    return {
        "run": cfg.name,
        "seeds": {"path": str(seeds), "sha256": sha256_file(seeds) if seeds.exists() else None},
        "teachers": teachers,
        "filters": list(cfg.curate.filters),
        "training_data": {"path": str(kept), "sha256": sha256_file(kept) if kept.exists() else None,
                          "records": ctx.outcomes["curate"].summary.get("kept")},
        "base_model": cfg.train.model,
        "model": str(ctx.stage_dir("train") / "model"),
        "training": {k: metrics.get(k) for k in ("train_tokens", "final_loss", "tokens_per_second")},
        "preference": ctx.outcomes["preference"].summary if "preference" in ctx.outcomes else None,
        "scores": overall,
        "instructions": {name: {m: {mode: {k: cell[k] for k in ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")}
                                    for mode, cell in per_mode.items()} for m, per_mode in block["results"].items()}
                         for name, block in (scores.get("instructions") or {}).items()},
        "judge": _judge_lineage(scores.get("judge")),
        "stages": {name: o.fingerprint for name, o in ctx.outcomes.items()},
    }


def _judge_lineage(judge: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who judged, its win rates, and how far the judge itself could be trusted."""
    if not judge:
        return None
    check = judge.get("check") or {}
    return {"judge": judge.get("judge"), "verdict": judge.get("verdict"),
            "win_rate": {key: {mode: s["win_rate"] for mode, s in per_mode.items()}
                         for key, per_mode in (judge.get("pairwise") or {}).items()},
            "check_accuracy": check.get("accuracy"), "reliable": check.get("reliable")}

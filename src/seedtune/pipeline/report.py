"""The run report: what the model was taught, what that bought, and how sure we are.

`runs/<name>/report/report.html` opens with the data mix (per source: hand-written, generated,
constraint data; in the pool and kept), then, when the run trains variants, the ablation (each
variant's data, budget and score, and what each data source added, per category and language,
with paired bootstrap CIs), then the verdict (tuned vs base), the stages and their times, the
curation funnel and answer lengths per category, training figures, and the full evaluation
report. `lineage.json` at the run root links seeds, teacher, filters, the training-data hash,
each model, the sources it saw, and its scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedtune.evaluate.results import NUMBERS, EvalScores, callout_kind, comparison_sentence, signed_ci, tone
from seedtune.formats import read_records
from seedtune.io import jsonl_lines, sha256_file, write_json
from seedtune.pipeline.layout import seeds_path, tuned_models
from seedtune.pipeline.runner import RunContext
from seedtune.report import Callout, Document, Paragraph, Table, write_report


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in jsonl_lines(path.read_text(encoding="utf-8")) if line.strip()]


def write_pipeline_report(ctx: RunContext, out: Path) -> dict[str, Any]:
    cfg = ctx.config
    eval_dir, curate_dir = ctx.stage_dir("eval"), ctx.stage_dir("curate")
    scores = EvalScores.read(eval_dir / "scores.json") if (eval_dir / "scores.json").exists() else None
    funnel = _load_json(curate_dir / "funnel.json")
    trained = _trained(ctx)
    pool_path, kept_path = ctx.stage_dir("generate") / "pool.jsonl", curate_dir / "kept.jsonl"
    pool = read_records(pool_path) if pool_path.exists() else []
    kept = read_records(kept_path) if kept_path.exists() else []
    doc = Document(title=f"seedtune run '{cfg.name}'",
                   subtitle=f"base model {cfg.train.model}; run folder {ctx.run_dir}")

    # What the model was taught comes first: a verdict means nothing without its data.
    doc.section("Data mix").add(*_data_mix(pool, kept, bool(cfg.train.variants)))
    if cfg.train.variants and scores:
        doc.section("Ablation: what each data source added").add(*_ablation(scores, trained))
    headline = _headline(scores)
    doc.section("Verdict").add(*headline)
    doc.section("Stages").add(Table(
        ["stage", "status", "seconds", "folder"],
        [[o.name, "reused (unchanged)" if o.skipped else "ran", round(o.run_seconds, 1), str(o.folder)]
         for o in ctx.outcomes.values()],
        caption="Seconds are the time of the stage's last real run; a reused stage had the same "
                "inputs and config as that run."))
    _generation_section(doc, ctx.outcomes["generate"].summary, funnel, kept)
    train_tokens = sum(t.get("train_tokens") or 0 for t in trained.values()) or None
    costs = run_costs(ctx, funnel, scores, train_tokens)
    _cost_section(doc, costs)
    if trained:
        keys = ("records", "steps", "epochs", "train_tokens", "tokens_per_second", "final_loss", "eval_loss", "peak_rss_mb")
        doc.section("Training").add(Table(
            ["model", *keys], [[label, *(t.get(k) for k in keys)] for label, t in trained.items()],
            caption=(f"LoRA r={cfg.train.lora_r}" if not cfg.train.full else "full fine-tuning") + _budget_note(ctx)))
    if "preference" in ctx.outcomes:
        _preference_section(doc, ctx.outcomes["preference"].summary)
    if scores:
        _eval_sections(doc, cfg, scores, _load_rows(eval_dir / "predictions.jsonl"))
    paths = write_report(doc, out, "report")
    lineage = {**_lineage(ctx, scores, trained, kept), "cost": costs}
    write_json(ctx.run_dir / "lineage.json", lineage)
    return {"report": str(paths["html"]), "headline": headline[0].text if headline else ""}


def _generation_section(doc: Document, gen: dict[str, Any], funnel: dict[str, Any], kept: list[Any]) -> None:
    """Seeds and each method's accepted/rejected counts, the curation funnel, answer lengths."""
    data = doc.section("Generation and curation")
    rows = [["seed tasks", gen.get("seeds")]]
    for method in ("self_instruct", "evol", "respond", "magpie", "constraints"):
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
    if kept:
        data.add(_length_table(kept))


def _cost_section(doc: Document, costs: dict[str, Any]) -> None:
    doc.section("Cost").add(Table(
        ["stage", "prompt tokens", "completion tokens", "cost"],
        [[stage, c["prompt_tokens"], c["completion_tokens"], _money(c["cost"])] for stage, c in costs["stages"].items()]
        + [["total", costs["total"]["prompt_tokens"], costs["total"]["completion_tokens"], _money(costs["total"]["cost"])]],
        caption=(f"Cost per kept record: {_money(costs['per_kept_record'])}; per trained token: "
                 f"{_money(costs['per_trained_token'])}. Tokens and cost of every teacher and judge answer the run "
                 "used (answers from the request cache included); cost needs a price table (prices).")))


def _eval_sections(doc: Document, cfg: Any, scores: EvalScores, rows: list[dict[str, Any]]) -> None:
    """The full evaluation report after the run's own sections (its summary is the Verdict above)."""
    from seedtune.evaluate.report import build_document
    from seedtune.evaluate.suites import load_suite, verifiable_name

    reference = next((s for s in cfg.eval.suites if not verifiable_name(s)), None)
    eval_doc = build_document(scores, rows, load_suite(reference) if reference else None, cfg.eval.examples)
    doc.sections.extend(s for s in eval_doc.sections if s.title != "Summary")


def _trained(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Label -> the train summary of that model (records, steps, epochs, tokens, loss), with the
    model's own metrics.json filling what an older summary lacks."""
    summary = ctx.outcomes["train"].summary
    variants = summary.get("variants") or {"tuned": summary}
    out = {}
    for label, model in tuned_models(ctx).items():
        metrics = _load_json(Path(model) / "metrics.json")
        out[label] = {**{k: metrics.get(k) for k in ("steps", "train_tokens", "tokens_per_second", "final_loss",
                                                      "eval_loss", "peak_rss_mb")}, **variants.get(label, {})}
        lineage = _load_json(Path(model) / "lineage.json")
        out[label].setdefault("records", lineage.get("records"))
        out[label].setdefault("sources", lineage.get("sources"))
    return out


def _budget_note(ctx: RunContext) -> str:
    summary = ctx.outcomes["train"].summary
    if "variants" not in summary:
        return ""
    if summary.get("budget") == "steps":
        return (f"; every variant ran the {summary.get('budget_steps')} optimizer steps of '{summary.get('budget_variant')}' "
                "(the most records): packed rows of the same length, so about the same trained tokens, and more epochs "
                "on smaller data")
    return "; every variant ran the configured epochs over its own data (smaller data: fewer steps)"


def source_kind(source: str) -> str:
    """Which of the report's three kinds of data a `Record.source` is."""
    if source in ("seed", "human"):
        return "hand-written"
    if source.startswith("constraint"):
        return "constraint data"
    if source == "converted":
        return "converted dataset"
    return "generated by the teacher"


def _data_mix(pool: list[Any], kept: list[Any], variants: bool) -> list[Any]:
    """Per source: its kind, records in the pool, records kept, kept share, answer length."""
    from collections import Counter

    from seedtune.formats.stats import length_summary
    from seedtune.textsim import length_units

    if not pool and not kept:
        return [Callout("No training data was found.", "warning")]
    in_pool, in_kept = Counter(r.source for r in pool), Counter(r.source for r in kept)
    rows = []
    for source in sorted(set(in_pool) | set(in_kept), key=lambda s: (-in_kept[s], s)):
        lengths = length_summary(length_units(r.answer) for r in kept if r.source == source and r.answer.strip())
        rows.append([source, source_kind(source), in_pool[source], in_kept[source],
                     f"{100 * in_kept[source] / len(kept):.0f}%" if kept else "", lengths["median"], lengths["max"]])
    kinds = Counter()
    for r in kept:
        kinds[source_kind(r.source)] += 1
    mix = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    note = ""
    if len(kinds) > 1 and not variants:
        note = (" Which of them helped is not measured in this run: name `train.variants` (e.g. seeds-only: [seeds], "
                "all: [all]) to train one model per data mix and compare them on the same instances.")
    return [Paragraph(f"Curated training data: {len(kept)} records, {mix}.{note}"),
            Table(["source", "kind", "in pool", "kept", "share of kept", "answer median", "answer max"], rows,
                  caption="Records per source before and after curation; answer lengths in words (characters for CJK).",
                  digits=1)]


def _length_table(kept: list[Any]) -> Table:
    from seedtune.formats.stats import lengths_by_category

    stats = lengths_by_category(kept)
    return Table(["category", "records", "min", "median", "p95", "max"],
                 [[c, v["n"], v["min"], v["median"], v["p95"], v["max"]] for c, v in stats.items()],
                 caption="Answer length per category in the training data (words; characters for CJK): short "
                         "answers everywhere teach a model to answer everything in a sentence.", digits=1)


def _ablation(scores: EvalScores, trained: dict[str, dict[str, Any]]) -> list[Any]:
    """Per variant: the data it saw and its score; then each variant against the one before it,
    overall, per category and per language, with paired bootstrap CIs."""
    modes = scores.modes
    blocks: list[Any] = []
    rows = []
    for label, t in trained.items():
        sources = ", ".join(f"{s} {n}" for s, n in (t.get("sources") or {}).items())
        rows.append([label, sources, t.get("records"), t.get("steps"), t.get("epochs"), t.get("train_tokens")]
                    + [_score(scores, label, mode) for mode in modes])
    if "base" in scores.model_labels:
        rows.insert(0, ["base", "(untuned)", None, None, None, None] + [_score(scores, "base", mode) for mode in modes])
    blocks.append(Table(["model", "sources seen", "records", "steps", "epochs", "trained tokens", *modes], rows,
                        caption="Overall score with 95% bootstrap CI, same instances for every model."))
    for d in scores.deltas.pairs:
        added = _added(trained.get(d.a, {}).get("sources"), trained.get(d.b, {}).get("sources"))
        blocks.append(Callout(comparison_sentence(d.overall, d.a, d.b, d.mode_name, note=added), callout_kind(d.overall)))
        for group, title in (("categories", "category"), ("langs", "language")):
            cells = getattr(d, group)
            blocks.append(Table(
                [title, "n", "Δ", "95% CI", "better/worse"],
                [[g, c.n, c.delta, signed_ci(*c.ci), f"{c.wins}/{c.losses}"] for g, c in cells.items()],
                caption=f"{d.b} − {d.a} per {title} ({d.mode_name})",
                tones=[["", "", tone(*c.ci), "", ""] for c in cells.values()]))
    return blocks


def _added(a: dict[str, int] | None, b: dict[str, int] | None) -> str:
    extra = sorted(set(b or {}) - set(a or {}))
    return f" — adds {', '.join(extra)}" if extra else ""


def _score(scores: EvalScores, model: str, mode: str) -> str:
    # A verifiable suite alone has no reference score: its four numbers have their own section.
    cell = scores.results.get(model, {}).get(mode)
    return cell.overall.with_ci() if cell else ""


def run_costs(ctx: RunContext, funnel: dict[str, Any], scores: EvalScores | None, train_tokens: int | None) -> dict[str, Any]:
    """Tokens and cost of every stage that called a teacher or judge, the total, and the cost per
    kept record and per trained token. A stage without a price table has tokens but cost None."""
    def entry(prompt: int, completion: int, cost: float | None) -> dict[str, Any]:
        return {"prompt_tokens": int(prompt), "completion_tokens": int(completion),
                "cost": None if cost is None else round(cost, 6)}

    gen = ctx.outcomes["generate"].summary
    methods = [gen[m] for m in ("self_instruct", "evol", "respond", "magpie", "constraints") if isinstance(gen.get(m), dict)]
    priced = [m["cost"] for m in methods if m.get("cost") is not None]
    stages = {"generate": entry(sum(m.get("tokens", {}).get("prompt", 0) for m in methods),
                                sum(m.get("tokens", {}).get("completion", 0) for m in methods),
                                sum(priced) if priced else None)}
    judged = [step["usage"] for step in funnel.get("steps", []) if isinstance(step.get("usage"), dict)]
    if judged:
        stages["curate"] = entry(sum(u["prompt_tokens"] for u in judged), sum(u["completion_tokens"] for u in judged),
                                 sum(u["cost"] for u in judged) if any(u.get("priced") for u in judged) else None)
    spent = scores.cost if scores else None
    if spent:
        stages["eval"] = entry(spent["prompt_tokens"], spent["completion_tokens"], spent["cost"] if spent.get("priced") else None)
    costs = [c["cost"] for c in stages.values() if c["cost"] is not None]
    total = entry(sum(c["prompt_tokens"] for c in stages.values()), sum(c["completion_tokens"] for c in stages.values()),
                  sum(costs) if costs else None)
    kept, trained = funnel.get("kept"), train_tokens
    return {"stages": stages, "total": total,
            "per_kept_record": total["cost"] / kept if total["cost"] is not None and kept else None,
            "per_trained_token": total["cost"] / trained if total["cost"] is not None and trained else None}


def _money(value: float | None) -> str:
    return "n/a (no prices)" if value is None else f"{value:.6g}"


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


def _headline(scores: EvalScores | None) -> list[Any]:
    if not scores:
        return [Callout("The evaluation produced no scores.", "warning")]
    from seedtune.evaluate.report_if import summary_callouts

    blocks: list[Any] = [Callout(comparison_sentence(d.overall, d.a, d.b, d.mode_name), callout_kind(d.overall))
                         for d in scores.deltas.models]
    blocks += summary_callouts(scores.instructions)
    judge = scores.judge or {}
    check = judge.get("check") or {}
    if judge.get("skipped"):  # failed its check on known pairs: no verdicts were asked for
        blocks.append(Callout(f"Judge `{judge.get('judge')}`: {judge.get('warning', '')}", "warning"))
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


def _lineage(ctx: RunContext, scores: EvalScores | None, trained: dict[str, dict[str, Any]],
             kept: list[Any]) -> dict[str, Any]:
    """Seeds -> teacher -> filters -> data hash -> model(s) and the sources each saw -> scores."""
    from collections import Counter

    cfg = ctx.config
    seeds = seeds_path(cfg)
    kept_path = ctx.stage_dir("curate") / "kept.jsonl"
    gen = cfg.generate
    teachers = sorted({c.teacher.teacher for c in (gen.self_instruct, gen.evol, gen.respond, gen.magpie, gen.constraints)
                       if c is not None and c.teacher is not None})
    overall = scores.headline_scores() if scores else {}
    models = tuned_models(ctx)
    lineage = {
        "run": cfg.name,
        "seeds": {"path": str(seeds), "sha256": sha256_file(seeds) if seeds.exists() else None},
        "teachers": teachers,
        "filters": list(cfg.curate.filters),
        "training_data": {"path": str(kept_path), "sha256": sha256_file(kept_path) if kept_path.exists() else None,
                          "records": ctx.outcomes["curate"].summary.get("kept"),
                          "sources": dict(Counter(r.source for r in kept).most_common())},
        "base_model": cfg.train.model,
        # The model trained on the most data (the budget-setting variant), or the only one.
        "model": models.get(ctx.outcomes["train"].summary.get("budget_variant", ""), next(iter(models.values()))),
        # Which data each model saw: the ablation is only as honest as this table.
        "models": {label: {"path": path, "sources": trained.get(label, {}).get("sources"),
                           "selected": trained.get(label, {}).get("selected", "all"),
                           "records": trained.get(label, {}).get("records"),
                           "data_sha256": trained.get(label, {}).get("data_sha256") or (
                               sha256_file(kept_path) if kept_path.exists() else None),
                           "training": {k: trained.get(label, {}).get(k) for k in ("steps", "epochs", "train_tokens", "final_loss")},
                           "scores": overall.get(label)}
                   for label, path in models.items()},
        "training": {k: next(iter(trained.values()), {}).get(k) for k in ("train_tokens", "final_loss", "tokens_per_second")},
        "preference": ctx.outcomes["preference"].summary if "preference" in ctx.outcomes else None,
        "scores": overall,
        "instructions": {name: {m: {mode: {k: getattr(cell, k) for k in NUMBERS} for mode, cell in per_mode.items()}
                                for m, per_mode in block.results.items()}
                         for name, block in (scores.instructions if scores else {}).items()},
        "judge": _judge_lineage(scores.judge if scores else None),
        "stages": {name: o.fingerprint for name, o in ctx.outcomes.items()},
    }
    return lineage


def _judge_lineage(judge: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who judged, its win rates, and how far the judge itself could be trusted."""
    if not judge:
        return None
    check = judge.get("check") or {}
    return {"judge": judge.get("judge"), "verdict": judge.get("verdict"), "skipped": bool(judge.get("skipped")),
            "win_rate": {key: {mode: s["win_rate"] for mode, s in per_mode.items()}
                         for key, per_mode in (judge.get("pairwise") or {}).items()},
            "check_accuracy": check.get("accuracy"), "reliable": check.get("reliable")}

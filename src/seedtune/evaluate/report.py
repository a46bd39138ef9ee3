"""The eval report: what a reader wants first (did tuning help, by how much, how sure are we), then
per category and per task, judge results, and answers side by side — built as a
`seedtune.report.Document` and written as report.md + report.html."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.lexicon import join_instruction
from seedtune.report import Callout, Column, Details, Document, Figure, Paragraph, SideBySide, Table, write_report
from seedtune.report.figures import grouped_bars

from seedtune.evaluate.suites import Suite

TRANSLATION_EXAMPLE = "我喜欢吃苹果"


def _tone(delta: float | None, ci: Sequence[float] | None = None) -> str:
    if delta is None:
        return ""
    if ci and ci[0] == ci[0] and ci[1] == ci[1]:  # not NaN
        if ci[0] > 0:
            return "good"
        if ci[1] < 0:
            return "bad"
        return "muted"
    return "good" if delta > 0 else "bad" if delta < 0 else ""


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _length(cell: dict[str, Any]) -> str:
    value = cell.get("mean_length")
    return "" if value is None else f"{value:.1f}"


def build_document(scores: dict[str, Any], rows: list[dict[str, Any]], suite: Suite | None, n_examples: int = 6) -> Document:
    from seedtune.evaluate import report_if

    instructions = scores.get("instructions") or {}
    if suite is None or scores.get("suite") is None:  # verifiable-instruction suites only
        doc = Document(title="Verifiable instruction following: " + " vs ".join(reversed(scores["model_labels"])),
                       subtitle="Constraints checked by code, strict and loose; intervals are 95% bootstrap.")
        doc.section("Summary").add(*report_if.summary_callouts(instructions))
        report_if.add_sections(doc, instructions, rows, min(n_examples, 4))
        _setup(doc, scores, {})
        return doc
    checked_rows = [r for r in rows if r.get("task_metric") == "verifiable"]
    rows = [r for r in rows if r.get("task_metric") != "verifiable"]
    models: list[str] = scores["model_labels"]
    modes: list[str] = scores["modes"]
    results = scores["results"]
    deltas = scores["deltas"]
    info = scores["suite"]
    doc = Document(
        title=f"Evaluation on {info['name']}: " + (" vs ".join(reversed(models)) if len(models) > 1 else models[0]),
        subtitle=f"{info['tasks']} tasks, {info['instances']} instances, {len(info['categories'])} categories; "
                 f"modes: {', '.join(modes)}. Scores are in [0, 1]; intervals are 95% paired bootstrap.",
    )

    # -- Summary ---------------------------------------------------------------------------
    summary = doc.section("Summary")
    for label, hits in scores.get("contamination", {}).items():
        tasks = ", ".join(f"`{t}` ({h['reason']})" for t, h in sorted(hits.items()))
        summary.add(Callout(f"{len(hits)} suite task(s) appear in the training data of {label}: {tasks}. "
                            "Their scores do not measure generalisation to unseen tasks; see `overall_clean` in scores.json "
                            "and the ⚠ marks below.", "warning", "Contamination."))
    for d in deltas["models"]:
        o = d["overall"]
        verdict = ("better" if o["ci_low"] > 0 else "worse" if o["ci_high"] < 0 else "not clearly different")
        kind = "success" if o["ci_low"] > 0 else "warning" if o["ci_high"] < 0 else "info"
        summary.add(Callout(
            f"**{d['b']}** vs **{d['a']}** ({d['mode']}): {o['mean_b']:.3f} vs {o['mean_a']:.3f}, "
            f"difference {_signed(o['delta'])} {_ci([o['ci_low'], o['ci_high']])} — {verdict}. "
            f"Per instance: {o['wins']} better, {o['losses']} worse, {o['ties']} equal (sign test p = {o['p_sign']:.3g}).", kind))
    failures = scores.get("extraction_failures") or {}
    if failures:
        total = sum(sum(v.values()) for v in failures.values())
        summary.add(Callout(f"{total} answer(s) could not be extracted (no label / final answer found); they are scored "
                            "on the full output and listed under Extraction failures.", "info"))
    for note in scores.get("notes") or []:
        summary.add(Callout(note, "info"))
    summary.add(Table(["model"] + modes, [[m] + [_score_ci(results[m][mode]["overall"]) for mode in modes] for m in models],
                      caption="Overall score (primary metric of each task, mean over instances) with 95% CI"))
    summary.add(*report_if.summary_callouts(instructions))
    lengths = [[m] + [_length(results[m][mode]["overall"]) for mode in modes] for m in models]
    doc.section("Answer length").add(Table(
        ["model"] + modes, lengths, caption="Mean answer length (words; characters for Chinese): a gain that comes "
                                            "with much longer answers may be a length effect, not better answers"))

    # -- Deltas ----------------------------------------------------------------------------
    pairs = deltas.get("pairs") or []
    if deltas["models"] or deltas["modes"] or pairs:
        sec = doc.section("Differences")
        rows_d, tones = [], []
        for d in deltas["models"] + pairs + deltas["modes"]:
            o = d["overall"]
            who = f"{d['b']} − {d['a']}" if "model" not in d else f"{d['model']}: {d['b']} − {d['a']}"
            mode = d.get("mode", d["b"])
            rows_d.append([who, mode, o["delta"], _ci([o["ci_low"], o["ci_high"]]), f"{o['wins']}/{o['ties']}/{o['losses']}",
                           f"{o['p_sign']:.2g}"])
            tones.append(["", "", _tone(o["delta"], [o["ci_low"], o["ci_high"]]), "", "", ""])
        sec.add(Table(["comparison", "mode", "Δ", "95% CI", "better/equal/worse", "sign test p"], rows_d, tones=tones,
                      caption="B − A on the same instances (models), k-shot/CoT − zero-shot (modes)"))
        for b in models[1:]:
            per_mode = [d for d in deltas["models"] if d["b"] == b]
            cats = sorted({c for d in per_mode for c in d["categories"]})
            series = {d["mode"]: [d["categories"].get(c, {}).get("delta") for c in cats] for d in per_mode}
            errors = {d["mode"]: [tuple(d["categories"][c]["ci"]) if c in d["categories"] else None for c in cats]
                      for d in per_mode}
            sec.add(Figure(f"delta_{_slug(b)}", grouped_bars(cats, series, errors=errors, ylim=None, ylabel="Δ score",
                                                             title=f"{b} − {models[0]} per category"),
                           f"{b} − {models[0]} per category and mode, with 95% CIs (above zero: {b} is better)"))

    # -- Per category ----------------------------------------------------------------------
    sec = doc.section("Per category")
    cats = info["categories"]
    for mode in modes:
        series = {m: [results[m][mode]["categories"].get(c, {}).get("score") for c in cats] for m in models}
        errors = {m: [tuple(results[m][mode]["categories"][c]["ci"]) if c in results[m][mode]["categories"] else None
                      for c in cats] for m in models}
        sec.add(Figure(f"categories_{_slug(mode)}", grouped_bars(cats, series, errors=errors, title=f"Score per category ({mode})"),
                       f"Score per category, {mode}"))
        header = ["category", "n"] + models + ([f"Δ {models[-1]} − {models[0]}"] if len(models) > 1 else [])
        table_rows, tones = [], []
        delta = next((d for d in deltas["models"] if d["mode"] == mode and d["b"] == models[-1]), None)
        for c in cats:
            cell = results[models[0]][mode]["categories"].get(c, {})
            row: list[Any] = [c.replace("_", " "), cell.get("n")] + [results[m][mode]["categories"].get(c, {}).get("score") for m in models]
            tone = [""] * len(row)
            if delta and c in delta["categories"]:
                row.append(delta["categories"][c]["delta"])
                tone.append(_tone(delta["categories"][c]["delta"], delta["categories"][c]["ci"]))
            table_rows.append(row)
            tones.append(tone)
        sec.add(Table(header, table_rows, caption=f"{mode}", tones=tones))

    # -- Per task --------------------------------------------------------------------------
    sec = doc.section("Per task")
    header = ["task", "category", "lang", "metric"] + [f"{m} · {mode}" for mode in modes for m in models]
    trows = []
    for task in suite.tasks:
        t0 = results[models[0]][modes[0]]["tasks"].get(task.id)
        if t0 is None:
            continue
        mark = " ⚠" if any(results[m][modes[0]]["tasks"][task.id]["contaminated"] for m in models) else ""
        trows.append([task.id + mark, task.category, task.lang, task.metric]
                     + [results[m][mode]["tasks"][task.id]["score"] for mode in modes for m in models])
    sec.add(Table(header, trows, caption="Mean primary score per task (⚠ = found in a model's training data)"))

    # -- Judge -----------------------------------------------------------------------------
    judge = scores.get("judge")
    if judge:
        sec = doc.section("LLM judge")
        how = ("it answers with one letter or digit and its probabilities are read"
               if judge.get("verdict") == "logprobs" else "it explains, then writes a verdict that is parsed")
        sec.add(Paragraph(f"Judge: `{judge.get('judge')}` ({how}). Pairwise comparisons are asked in both orders; "
                          "a verdict that flips with the order counts as a tie."))
        check = judge.get("check")
        if check and check.get("n"):
            kinds = ", ".join(f"{k}: {v['right']} right / {v['wrong']} wrong of {v['n']}" for k, v in check["by_kind"].items())
            text = (f"**Judge check**: on {check['n']} pairs whose answer is known (the reference answer against a wrong "
                    f"one; the reference itself not shown), the judge picked the right answer {check['right']} times, the "
                    f"wrong one {check['wrong']} times, and was undecided {check['ties']} times — accuracy "
                    f"{check['accuracy']:.2f} (chance 0.50), swap consistency {check['swap_consistency']:.2f} ({kinds}).")
            sec.add(Callout(text + (" " + judge["warning"] if judge.get("warning") else " Its verdicts can be trusted this far."),
                            "success" if check.get("reliable") else "warning"))
        if judge.get("single"):
            sec.add(Table(["model"] + modes, [[m] + [judge["single"][m].get(mode) for mode in modes] for m in models],
                          caption="Mean 1–10 rating", digits=2))
        for pair, per_mode in (judge.get("pairwise") or {}).items():
            prow = [[mode, s["wins"], s["ties"], s["losses"], s["win_rate"], s["swap_consistency"],
                     s["first_position_win_rate"], s["length_correlation"], s["unparsed"]] for mode, s in per_mode.items()]
            sec.add(Table(["mode", "wins", "ties", "losses", "win rate", "swap consistency", "first-position wins",
                           "verdict~length r", "unparsed"], prow, caption=f"{pair} (wins are for the first-named model)"))

    # -- Examples --------------------------------------------------------------------------
    if n_examples:
        sec = doc.section("Examples side by side")
        for block in _examples(rows, models, modes, n_examples):
            sec.add(block)

    # -- Extraction failures ---------------------------------------------------------------
    failed = [r for r in rows if not r["extraction"]["ok"]]
    if failed:
        sec = doc.section("Extraction failures")
        sec.add(Table(["model", "mode", "task", "expected", "output (start)"],
                      [[r["model"], r["mode"], r["task"], r["extraction"]["kind"], r["raw_output"][:120]] for r in failed[:30]],
                      caption=f"{len(failed)} failures" + (" (first 30)" if len(failed) > 30 else "")))

    report_if.add_sections(doc, instructions, checked_rows, min(n_examples, 4))
    _setup(doc, scores, info)
    return doc


def _setup(doc: Document, scores: dict[str, Any], info: dict[str, Any]) -> None:
    sec = doc.section("Setup")
    sec.add(Table(["model", "spec", "prompt format", "fingerprint", "contaminated tasks"],
                  [[m["label"], m["spec"], m["prompt_format"], m["fingerprint"], len(m["contaminated_tasks"])]
                   for m in scores["models"]]))
    timing = scores.get("timing") or {}
    if timing:
        sec.add(Table(["model", "requests", "generated", "seconds", "tokens/s"],
                      [[m, t["requests"], t["generated"], t["seconds"], t["tokens_per_second"]] for m, t in timing.items()],
                      caption="Generation (requests answered from the cache are not generated again)", digits=1))
    cfg = scores.get("config") or {}
    sec.add(Paragraph(f"Demonstrations: {cfg.get('demos', '?')} (seed {cfg.get('seed', 0)}); greedy decoding; "
                      f"max new tokens {cfg.get('max_new_tokens')} (CoT {cfg.get('cot_max_new_tokens')}); "
                      f"limit per task: {info.get('limit_per_task') or 'none'}."))


def _score_ci(entry: dict[str, Any]) -> str:
    if entry.get("score") is None:
        return ""
    lo, hi = entry["ci"]
    return f"{entry['score']:.3f} [{lo:.3f}, {hi:.3f}]"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")[:40] or "x"


def _examples(rows: list[dict[str, Any]], models: list[str], modes: list[str], n: int) -> list[Any]:
    """The translation example first (when the suite has it), then the largest gains and losses."""
    index = {(r["model"], r["mode"], r["task"], r["instance"]): r for r in rows}
    first = [r for r in rows if r["model"] == models[0]]
    chosen: list[tuple[str, dict]] = []
    for r in first:
        if TRANSLATION_EXAMPLE in r["instruction"] + r["input"] and r["mode"] == modes[0]:
            chosen.append(("Translation example", r))
            break
    if len(models) > 1:
        b = models[-1]
        gains = []
        for r in first:
            other = index.get((b, r["mode"], r["task"], r["instance"]))
            if other:
                gains.append((other["score"] - r["score"], r))
        gains.sort(key=lambda x: x[0])
        best = _distinct_tasks([r for g, r in reversed(gains) if g > 0], max(1, n // 2))
        worst = _distinct_tasks([r for g, r in gains if g < 0], max(1, n - len(best) - len(chosen)))
        chosen += [("Largest gain", r) for r in best] + [("Largest loss", r) for r in worst]
    else:
        chosen += [("Example", r) for r in first[::max(1, len(first) // max(1, n))]]
    seen, blocks = set(), []
    for title, r in chosen:
        key = (r["task"], r["instance"], r["mode"])
        if key in seen or len(blocks) >= n:
            continue
        seen.add(key)
        columns = [Column("Reference", " | ".join(r["references"]))]
        for m in models:
            other = index.get((m, r["mode"], r["task"], r["instance"]))
            if other:
                note = f"{other['metric']} {other['score']:.2f}"
                tone = "good" if other["score"] >= 0.999 else "bad" if other["score"] <= 0.001 else ""
                columns.append(Column(f"{m}", other["answer"], note, tone))
        question = join_instruction(r["instruction"], r["input"])
        blocks.append(SideBySide(f"{title} · {r['task']} ({r['category']}, {r['mode']})", question, columns))
        blocks.append(Details("Prompt sent to " + models[0], r["prompt"]))
    return blocks


def _distinct_tasks(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first `n` rows from different tasks, so the examples show n tasks, not one task n times."""
    out, seen = [], set()
    for r in rows:
        if r["task"] not in seen:
            seen.add(r["task"])
            out.append(r)
    return out[:n]


def write_eval_report(out: str | Path, scores: dict[str, Any], rows: list[dict[str, Any]], suite: Suite,
                      n_examples: int = 6) -> dict[str, Path]:
    return write_report(build_document(scores, rows, suite, n_examples), out, "report")

"""The eval report: what a reader wants first (did tuning help, by how much, how sure are we), then
per category and per task, judge results, and answers side by side — built as a
`seedtune.report.Document` and written as report.md + report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seedtune.lexicon import join_instruction
from seedtune.report import Callout, Column, Details, Document, Figure, Paragraph, SideBySide, Table, write_report
from seedtune.report.figures import grouped_bars

from seedtune.evaluate.report_if import add_sections, summary_callouts
from seedtune.evaluate.results import EvalScores, Summary, callout_kind, comparison_sentence, signed_ci, tone
from seedtune.evaluate.suites import Suite

TRANSLATION_EXAMPLE = "我喜欢吃苹果"


def _length(cell: Summary) -> str:
    return "" if cell.mean_length is None else f"{cell.mean_length:.1f}"


def build_document(scores: EvalScores, rows: list[dict[str, Any]], suite: Suite | None, n_examples: int = 6) -> Document:
    """The eval report as a document, section by section in the order a reader wants them."""
    if suite is None or scores.suite is None:
        return _verifiable_only(scores, rows, n_examples)
    checked_rows = [r for r in rows if r.get("task_metric") == "verifiable"]
    rows = [r for r in rows if r.get("task_metric") != "verifiable"]
    models, info = scores.model_labels, scores.suite
    doc = Document(
        title=f"Evaluation on {info.name}: " + (" vs ".join(reversed(models)) if len(models) > 1 else models[0]),
        subtitle=f"{info.tasks} tasks, {info.instances} instances, {len(info.categories)} categories; "
                 f"modes: {', '.join(scores.modes)}. Scores are in [0, 1]; intervals are 95% paired bootstrap.",
    )
    _summary(doc, scores)
    _answer_length(doc, scores)
    _differences(doc, scores)
    _per_category(doc, scores)
    _per_task(doc, scores, suite)
    _judge(doc, scores)
    if n_examples:
        doc.section("Examples side by side").add(*_examples(rows, models, scores.modes, n_examples))
    _extraction_failures(doc, rows)
    add_sections(doc, scores.instructions, checked_rows, min(n_examples, 4))
    _setup(doc, scores)
    return doc


def _verifiable_only(scores: EvalScores, rows: list[dict[str, Any]], n_examples: int) -> Document:
    doc = Document(title="Verifiable instruction following: " + " vs ".join(reversed(scores.model_labels)),
                   subtitle="Constraints checked by code, strict and loose; intervals are 95% bootstrap.")
    doc.section("Summary").add(*summary_callouts(scores.instructions))
    add_sections(doc, scores.instructions, rows, min(n_examples, 4))
    _setup(doc, scores)
    return doc


# -- Summary: contamination first, then the verdicts, then the overall scores ---------------------

def _summary(doc: Document, scores: EvalScores) -> None:
    summary = doc.section("Summary")
    for label, hits in scores.contamination.items():
        tasks = ", ".join(f"`{t}` ({h['reason']})" for t, h in sorted(hits.items()))
        summary.add(Callout(f"{len(hits)} suite task(s) appear in the training data of {label}: {tasks}. "
                            "Their scores do not measure generalisation to unseen tasks; see `overall_clean` in scores.json "
                            "and the ⚠ marks below.", "warning", "Contamination."))
    for d in scores.deltas.models:
        summary.add(Callout(comparison_sentence(d.overall, d.a, d.b, d.mode_name), callout_kind(d.overall)))
    if scores.extraction_failures:
        total = sum(sum(v.values()) for v in scores.extraction_failures.values())
        summary.add(Callout(f"{total} answer(s) could not be extracted (no label / final answer found); they are scored "
                            "on the full output and listed under Extraction failures.", "info"))
    for note in scores.notes:
        summary.add(Callout(note, "info"))
    models, modes, results = scores.model_labels, scores.modes, scores.results
    summary.add(Table(["model"] + modes, [[m] + [results[m][mode].overall.with_ci() for mode in modes] for m in models],
                      caption="Overall score (primary metric of each task, mean over instances) with 95% CI"))
    summary.add(*summary_callouts(scores.instructions))


def _answer_length(doc: Document, scores: EvalScores) -> None:
    modes = scores.modes
    lengths = [[m] + [_length(scores.results[m][mode].overall) for mode in modes] for m in scores.model_labels]
    doc.section("Answer length").add(Table(
        ["model"] + modes, lengths, caption="Mean answer length (words; characters for Chinese): a gain that comes "
                                            "with much longer answers may be a length effect, not better answers"))


# -- Differences: every paired comparison, then each tuned model per category ---------------------

def _differences(doc: Document, scores: EvalScores) -> None:
    comparisons = scores.deltas.in_order()
    if not comparisons:
        return
    sec = doc.section("Differences")
    table, tones = [], []
    for d in comparisons:
        o = d.overall
        table.append([d.title, d.mode_name, o.delta, signed_ci(o.ci_low, o.ci_high), f"{o.wins}/{o.ties}/{o.losses}",
                      f"{o.p_sign:.2g}"])
        tones.append(["", "", tone(o.ci_low, o.ci_high), "", "", ""])
    sec.add(Table(["comparison", "mode", "Δ", "95% CI", "better/equal/worse", "sign test p"], table, tones=tones,
                  caption="B − A on the same instances (models), k-shot/CoT − zero-shot (modes)"))
    first = scores.model_labels[0]
    for b in scores.model_labels[1:]:
        # Against the first model only: with compare_previous, b is also compared with the model before it.
        per_mode = [d for d in scores.deltas.models if d.b == b and d.a == first]
        cats = sorted({c for d in per_mode for c in d.categories})
        series = {d.mode_name: [d.categories[c].delta if c in d.categories else None for c in cats] for d in per_mode}
        errors = {d.mode_name: [tuple(d.categories[c].ci) if c in d.categories else None for c in cats] for d in per_mode}
        sec.add(Figure(f"delta_{_slug(b)}", grouped_bars(cats, series, errors=errors, ylim=None, ylabel="Δ score",
                                                         title=f"{b} − {first} per category"),
                       f"{b} − {first} per category and mode, with 95% CIs (above zero: {b} is better)"))


# -- Per category and per task --------------------------------------------------------------------

def _per_category(doc: Document, scores: EvalScores) -> None:
    sec = doc.section("Per category")
    models, results, cats = scores.model_labels, scores.results, scores.suite.categories
    for mode in scores.modes:
        cells = {m: results[m][mode].categories for m in models}
        series = {m: [cells[m][c].score if c in cells[m] else None for c in cats] for m in models}
        errors = {m: [tuple(cells[m][c].ci) if c in cells[m] else None for c in cats] for m in models}
        sec.add(Figure(f"categories_{_slug(mode)}", grouped_bars(cats, series, errors=errors, title=f"Score per category ({mode})"),
                       f"Score per category, {mode}"))
        header = ["category", "n"] + models + ([f"Δ {models[-1]} − {models[0]}"] if len(models) > 1 else [])
        delta = scores.delta_vs_first(mode, models[-1]) if len(models) > 1 else None
        table_rows, tones = [], []
        for c in cats:
            first = cells[models[0]].get(c)
            row: list[Any] = [c.replace("_", " "), first.n if first else None] + [
                cells[m][c].score if c in cells[m] else None for m in models]
            tone_row = [""] * len(row)
            if delta and c in delta.categories:
                row.append(delta.categories[c].delta)
                tone_row.append(tone(*delta.categories[c].ci))
            table_rows.append(row)
            tones.append(tone_row)
        sec.add(Table(header, table_rows, caption=f"{mode}", tones=tones))


def _per_task(doc: Document, scores: EvalScores, suite: Suite) -> None:
    models, modes, results = scores.model_labels, scores.modes, scores.results
    header = ["task", "category", "lang", "metric"] + [f"{m} · {mode}" for mode in modes for m in models]
    table = []
    for task in suite.tasks:
        if task.id not in results[models[0]][modes[0]].tasks:
            continue
        mark = " ⚠" if any(results[m][modes[0]].tasks[task.id].contaminated for m in models) else ""
        table.append([task.id + mark, task.category, task.lang, task.metric]
                     + [results[m][mode].tasks[task.id].score for mode in modes for m in models])
    doc.section("Per task").add(Table(header, table, caption="Mean primary score per task (⚠ = found in a model's training data)"))


# -- LLM judge: how far it can be trusted, then its ratings and pairwise verdicts -----------------

def _judge(doc: Document, scores: EvalScores) -> None:
    judge = scores.judge
    if not judge:
        return
    models, modes = scores.model_labels, scores.modes
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


# -- Extraction failures and setup ----------------------------------------------------------------

def _extraction_failures(doc: Document, rows: list[dict[str, Any]]) -> None:
    failed = [r for r in rows if not r["extraction"]["ok"]]
    if failed:
        doc.section("Extraction failures").add(Table(
            ["model", "mode", "task", "expected", "output (start)"],
            [[r["model"], r["mode"], r["task"], r["extraction"]["kind"], r["raw_output"][:120]] for r in failed[:30]],
            caption=f"{len(failed)} failures" + (" (first 30)" if len(failed) > 30 else "")))


def _setup(doc: Document, scores: EvalScores) -> None:
    sec = doc.section("Setup")
    sec.add(Table(["model", "spec", "prompt format", "fingerprint", "contaminated tasks"],
                  [[m.label, m.spec, m.prompt_format, m.fingerprint, len(m.contaminated_tasks)] for m in scores.models]))
    if scores.timing:
        sec.add(Table(["model", "requests", "generated", "seconds", "tokens/s"],
                      [[m, t["requests"], t["generated"], t["seconds"], t["tokens_per_second"]] for m, t in scores.timing.items()],
                      caption="Generation (requests answered from the cache are not generated again)", digits=1))
    cfg = scores.config
    limit = scores.suite.limit_per_task if scores.suite else None
    sec.add(Paragraph(f"Demonstrations: {cfg.get('demos', '?')} (seed {cfg.get('seed', 0)}); greedy decoding; "
                      f"max new tokens {cfg.get('max_new_tokens')} (CoT {cfg.get('cot_max_new_tokens')}); "
                      f"limit per task: {limit or 'none'}."))


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
                right = "good" if other["score"] >= 0.999 else "bad" if other["score"] <= 0.001 else ""
                columns.append(Column(f"{m}", other["answer"], note, right))
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


def write_eval_report(out: str | Path, scores: EvalScores, rows: list[dict[str, Any]], suite: Suite,
                      n_examples: int = 6) -> dict[str, Path]:
    return write_report(build_document(scores, rows, suite, n_examples), out, "report")

"""The verifiable-instructions part of the eval report: IFEval's four numbers per model and mode
with 95% bootstrap intervals, B - A with paired intervals, then seen vs held-out constraint
families, English vs Chinese, each family, and answers side by side with their verdicts."""

from __future__ import annotations

from typing import Any

from seedtune.report import Callout, Column, Document, Paragraph, SideBySide, Table

from seedtune.evaluate.results import (NUMBERS, InstructionBlock, InstructionCell, callout_kind,
                                       comparison_sentence, difference, signed_ci, tone, verdict)
from seedtune.evaluate.stats import PairedComparison

HEADERS = ["prompt strict", "prompt loose", "instruction strict", "instruction loose"]


def _delta(c: PairedComparison | None) -> str:
    return f"{c.delta:+.3f} {signed_ci(c.ci_low, c.ci_high)}" if c else ""


def _tone(c: PairedComparison | None) -> str:
    return tone(c.ci_low, c.ci_high) if c else ""


def summary_callouts(instructions: dict[str, InstructionBlock]) -> list[Callout]:
    """One line per suite, comparison and mode: prompt-level loose B vs A, overall and held-out."""
    out = []
    for name, block in instructions.items():
        for d in block.deltas:
            o = d.overall.get("prompt_loose")
            if not o:
                continue
            text = comparison_sentence(o, d.a, d.b, f"{name}, {d.mode}; prompts that follow every constraint, loose",
                                       percent=True, unit="prompt")
            held = d.splits.get("held-out", {}).get("prompt_loose")
            if held:
                text += f" On held-out constraint families: {difference(held, percent=True)} — {verdict(held)}."
            out.append(Callout(text, callout_kind(o)))
    return out


def add_sections(doc: Document, instructions: dict[str, InstructionBlock], rows: list[dict[str, Any]],
                 n_examples: int = 4) -> None:
    for name, block in instructions.items():
        _suite_section(doc, name, block, [r for r in rows if r.get("suite") == name], n_examples)


def _suite_section(doc: Document, name: str, block: InstructionBlock, rows: list[dict[str, Any]], n_examples: int) -> None:
    info, results, models, modes = block.suite, block.results, block.models, block.modes
    sec = doc.section(f"Verifiable instructions: {name}")
    langs = ", ".join(f"{n} {lang.upper()}" for lang, n in info.langs.items())
    text = (f"{info.prompts} prompts ({langs}) with {info.instructions} constraints, checked by code "
            f"(`seedtune.verifiable`), no judge and no reference. Prompt-level: every constraint of a prompt holds; "
            f"instruction-level: each constraint on its own. Loose also accepts the answer without its first or last "
            f"line or without markdown `*` (IFEval's definition). Answers up to {info.max_new_tokens} new tokens.")
    if info.prompts_cap:
        text += f" Capped at {info.prompts_cap} prompts, balanced over language and seen/held-out families."
    sec.add(Paragraph(text))
    if info.skipped:
        sec.add(Callout(f"{info.skipped} bad line(s) of {info.source} were skipped (on_error=skip); "
                        "see `skipped_lines` in scores.json.", "warning"))
    sec.add(*summary_callouts({name: block}))
    sec.add(Table(["model", "mode"] + HEADERS + ["mean length"],
                  [[m, mode] + [results[m][mode].with_ci(k) for k in NUMBERS] + [_length(results[m][mode])]
                   for mode in modes for m in models],
                  caption="IFEval's four numbers, 95% bootstrap CI; mean answer length in words (characters for Chinese)"))
    if block.deltas:
        rows_d, tones = [], []
        for d in block.deltas:
            groups = [("all", d.overall)] + [(f"{g} families", v) for g, v in d.splits.items()] \
                + [(g.upper(), v) for g, v in d.langs.items()]
            for label, comp in groups:
                rows_d.append([f"{d.b} − {d.a}", d.mode, label] + [_delta(comp.get(k)) for k in NUMBERS])
                tones.append(["", "", ""] + [_tone(comp.get(k)) for k in NUMBERS])
        sec.add(Table(["comparison", "mode", "prompts"] + HEADERS, rows_d, tones=tones,
                      caption="B − A on the same prompts and constraints, 95% paired bootstrap CI"))
    for kind, title in (("splits", "Seen vs held-out constraint families"), ("langs", "English vs Chinese")):
        table = [[g if kind == "splits" else g.upper(), m, mode, e.n_prompts] + [e.with_ci(k) for k in NUMBERS]
                 for mode in modes for m in models for g, e in getattr(results[m][mode], kind).items()]
        sec.add(Table(["group", "model", "mode", "prompts"] + HEADERS, table, caption=title))
    families = sorted({f for m in models for mode in modes for f in results[m][mode].families})
    fam_rows = [[f, "held-out" if f in _heldout() else "seen", mode, _family(results[models[0]][mode], f, "n_instructions")]
                + [_family(results[m][mode], f, k) for m in models for k in ("inst_strict", "inst_loose")]
                for mode in modes for f in families]
    sec.add(Table(["family", "split", "mode", "constraints"] + [f"{m} {k}" for m in models for k in ("strict", "loose")],
                  fam_rows, caption="Instruction-level accuracy per constraint family"))
    for block_ in _examples(rows, models, modes, n_examples):
        sec.add(block_)


def _family(cell: InstructionCell, family: str, key: str) -> Any:
    entry = cell.families.get(family)
    return getattr(entry, key) if entry else None


def _length(entry: InstructionCell) -> str:
    return "" if entry.mean_length is None else f"{entry.mean_length:.1f}"


def _heldout() -> tuple[str, ...]:
    from seedtune.verifiable import HELDOUT_FAMILIES

    return HELDOUT_FAMILIES


def _examples(rows: list[dict[str, Any]], models: list[str], modes: list[str], n: int) -> list[SideBySide]:
    """Prompts where the models' verdicts differ most (then any), one per prompt, first mode."""
    if not rows or not n:
        return []
    index = {(r["model"], r["task"]): r for r in rows if r["mode"] == modes[0]}
    tasks = list(dict.fromkeys(r["task"] for r in rows if r["mode"] == modes[0]))

    def spread(task: str) -> float:
        values = [index[(m, task)]["scores"]["inst_loose"] for m in models if (m, task) in index]
        return max(values) - min(values) if values else 0.0

    out = []
    for task in sorted(tasks, key=spread, reverse=True)[:n]:
        first = index.get((models[0], task))
        if first is None:
            continue
        columns = []
        for m in models:
            r = index.get((m, task))
            if r:
                c = r["checks"]
                note = ", ".join(f"{i.split(':')[-1]} {'✓' if s else ('~' if lo else '✗')}"
                                 for i, s, lo in zip(c["ids"], c["strict"], c["loose"]))
                columns.append(Column(m, r["response"], note, "good" if all(c["strict"]) else "bad" if not any(c["loose"]) else ""))
        out.append(SideBySide(f"{task} ({first['lang']}, {first['category']} families, {modes[0]})", first["instruction"],
                              columns, note="✓ strict pass, ~ loose pass only, ✗ fail"))
    return out

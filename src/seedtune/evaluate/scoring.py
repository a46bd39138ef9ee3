"""From per-instance rows to the numbers in scores.json: per model x mode x task / category /
overall, and the deltas a reader came for (B - A, k-shot - zero-shot, CoT - zero-shot), each with
a paired bootstrap confidence interval and a sign test.

Category and overall scores are means over instances of each task's primary metric (with
`--limit` every task has the same number of instances, so this equals the mean over tasks).
When some tasks are contaminated, `overall_clean` repeats the overall score without them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from seedtune.evaluate.results import Delta, Deltas, EvalScores, GroupDelta, ModeResult, Summary, TaskSummary
from seedtune.evaluate.stats import bootstrap_ci, paired_compare
from seedtune.evaluate.suites import Suite
from seedtune.textsim import length_units

Key = tuple[str, str]  # (task id, instance id)


def _summary(rows: Sequence[dict[str, Any]], samples: int, seed: int) -> Summary:
    values = [r["score"] for r in rows]
    metrics: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, value in r["scores"].items():
            if value is not None:
                metrics[name].append(value)
    lo, hi = bootstrap_ci(values, samples=samples, seed=seed)
    return Summary(
        n=len(values), score=float(np.mean(values)) if values else None, ci=[lo, hi],
        metrics={name: float(np.mean(v)) for name, v in sorted(metrics.items())},
        extraction_failures=sum(not r["extraction"]["ok"] for r in rows),
        # Words (characters for Chinese): a gain that is only longer answers must be visible.
        mean_length=float(np.mean([length_units(r["response"]) for r in rows])) if rows else None,
    )


def aggregate(rows: Sequence[dict[str, Any]], suite: Suite, models: Sequence[str], modes: Sequence[str],
              *, samples: int = 1000, seed: int = 0, pairs: Sequence[tuple[str, str]] = (),
              compare_previous: bool = False) -> EvalScores:
    """Scores per model x mode, and deltas: every model against the first (`deltas.models`; with
    `compare_previous` also each model against the one before it),
    every mode against zero-shot (`deltas.modes`), and each (A, B) of `pairs` (`deltas.pairs`:
    e.g. a model tuned on all data against one tuned on the seeds only)."""
    cells: dict[tuple[str, str], dict[Key, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        cells[(r["model"], r["mode"])][(r["task"], r["instance"])] = r
    task_info = {t.id: t for t in suite.tasks}

    results: dict[str, dict[str, ModeResult]] = {}
    for model in models:
        results[model] = {}
        for mode in modes:
            cell = list(cells[(model, mode)].values())
            by_task: dict[str, list] = defaultdict(list)
            by_cat: dict[str, list] = defaultdict(list)
            for r in cell:
                by_task[r["task"]].append(r)
                by_cat[r["category"]].append(r)
            entry = ModeResult(
                overall=_summary(cell, samples, seed),
                categories={c: _summary(v, samples, seed) for c, v in sorted(by_cat.items())},
                tasks={t: TaskSummary(**_summary(v, samples, seed).model_dump(), metric=task_info[t].metric,
                                      category=task_info[t].category, lang=task_info[t].lang,
                                      contaminated=any(r["contaminated"] for r in v))
                       for t, v in by_task.items()},
            )
            clean = [r for r in cell if not r["contaminated"]]
            if len(clean) != len(cell):
                entry.overall_clean = _summary(clean, samples, seed)
            results[model][mode] = entry

    base = models[0]
    against = [(base, other) for other in models[1:]]
    if compare_previous:  # e.g. SFT+DPO vs SFT: what the last step added, not only the total
        against += [(a, b) for a, b in zip(models[1:], models[2:])]
    deltas = Deltas(
        models=[Delta(a=a, b=b, mode=mode, **_compare(cells[(a, mode)], cells[(b, mode)], samples, seed))
                for a, b in against for mode in modes],
        modes=[Delta(model=model, a="zero", b=mode, **_compare(cells[(model, "zero")], cells[(model, mode)], samples, seed))
               for model in models for mode in modes if "zero" in modes and mode != "zero"],
        pairs=[Delta(a=a, b=b, mode=mode, **_compare(cells[(a, mode)], cells[(b, mode)], samples, seed))
               for a, b in pairs for mode in modes])
    return EvalScores(results=results, deltas=deltas, modes=list(modes), model_labels=list(models))


def _compare(a: dict[Key, dict], b: dict[Key, dict], samples: int, seed: int) -> dict[str, Any]:
    """B - A on the instances both have: overall (bootstrap CI + sign test), per category, per
    language, per task."""
    keys = [k for k in a if k in b]
    overall = paired_compare([a[k]["score"] for k in keys], [b[k]["score"] for k in keys], samples=samples, seed=seed)
    groups: dict[str, dict[str, list[Key]]] = {"categories": defaultdict(list), "langs": defaultdict(list),
                                               "tasks": defaultdict(list)}
    for k in keys:
        groups["categories"][a[k]["category"]].append(k)
        groups["langs"][a[k].get("lang") or "unknown"].append(k)
        groups["tasks"][k[0]].append(k)
    out: dict[str, Any] = {"overall": overall}
    for name, group in groups.items():
        out[name] = {}
        for g, ks in sorted(group.items()):
            c = paired_compare([a[k]["score"] for k in ks], [b[k]["score"] for k in ks], samples=samples, seed=seed)
            out[name][g] = GroupDelta(delta=c.delta, ci=[c.ci_low, c.ci_high], n=c.n, wins=c.wins, losses=c.losses)
    return out

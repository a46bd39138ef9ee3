"""Verifiable-instruction suites: score answers with the checkers, aggregate.

A verifiable suite is a list of prompts, each carrying 1-3 constraints a program checks
(`seedtune.verifiable`); there are no reference answers. Two sources share one layout, the
public IFEval `input_data.jsonl` (`key`, `prompt`, `instruction_id_list`, `kwargs`):

- `heldout-if`: our own suite, shipped in `seedtune.data` (EN + ZH, with `lang` and `split`);
- `ifeval:PATH`: a file the user downloads (we ship none of its text).

Both are read by `evaluate/suites.py` (`load_suite`, `read_ifeval`) like every other suite.

Scores are IFEval's four numbers (Zhou et al. 2023): prompt-level (all of a prompt's constraints
hold) and instruction-level (each constraint on its own), each strict and loose; plus the same
per constraint family, for seen (training) vs held-out families, and per language, and paired
bootstrap intervals of B - A on the same prompts and instructions.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from seedtune.evaluate.results import NUMBERS
from seedtune.evaluate.stats import bootstrap_ci, paired_compare
from seedtune.evaluate.suites import VERIFIABLE as METRIC  # noqa: F401 - the name the runner scores under
from seedtune.evaluate.suites import Instance, Suite
from seedtune.textsim import length_units
from seedtune.verifiable import family_of, is_heldout, make_constraint, score

SPLITS = ("seen", "held-out")


def capped(suite: Suite, n: int | None, seed: int = 0) -> Suite:
    """At most `n` prompts, balanced over (language, seen/held-out) groups: each group gives an
    equal share (a small group gives all it has and the rest is spread over the others), drawn
    with a fixed seed; file order is kept."""
    if not n or n >= len(suite.tasks):
        return suite
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, t in enumerate(suite.tasks):
        groups[(t.lang, t.category)].append(i)
    rng = random.Random(seed)
    pools = {g: rng.sample(ix, len(ix)) for g, ix in sorted(groups.items())}
    chosen: list[int] = []
    while len(chosen) < n and any(pools.values()):
        for g in sorted(pools):
            if pools[g] and len(chosen) < n:
                chosen.append(pools[g].pop())
    tasks = [suite.tasks[i] for i in sorted(chosen)]
    return Suite(suite.name, tasks, suite.source, skipped=suite.skipped)


def check_row(response: str, instance: Instance, prompt: str) -> dict[str, Any]:
    """What a prediction row stores for a verifiable prompt: ids, families and verdicts."""
    constraints = [make_constraint(c["id"], c["kwargs"]) for c in instance.constraints]
    verdict = score(response, constraints, prompt=prompt)
    return {"ids": [c.id for c in constraints], "families": [family_of(c.id) for c in constraints],
            "strict": verdict.strict, "loose": verdict.loose}


def row_scores(checks: dict[str, Any]) -> dict[str, float]:
    """The four numbers of one answer (instruction-level ones as this prompt's fractions)."""
    s, lo = checks["strict"], checks["loose"]
    return {"prompt_strict": float(all(s)), "prompt_loose": float(all(lo)),
            "inst_strict": sum(s) / len(s), "inst_loose": sum(lo) / len(lo)}


# -- aggregation ---------------------------------------------------------------------------------

def _values(rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-prompt (prompt_*) and per-instruction (inst_*) 0/1 values of a set of rows."""
    out: dict[str, list[float]] = {k: [] for k in NUMBERS}
    for r in rows:
        c = r["checks"]
        out["prompt_strict"].append(float(all(c["strict"])))
        out["prompt_loose"].append(float(all(c["loose"])))
        out["inst_strict"] += [float(x) for x in c["strict"]]
        out["inst_loose"] += [float(x) for x in c["loose"]]
    return out


def _four(values: dict[str, list[float]], samples: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n_prompts": len(values["prompt_strict"]), "n_instructions": len(values["inst_strict"])}
    for k in NUMBERS:
        v = values[k]
        out[k] = sum(v) / len(v) if v else None
        out[f"{k}_ci"] = list(bootstrap_ci(v, samples=samples, seed=seed)) if v else None
    return out


def _instruction_rows(rows: Sequence[dict[str, Any]], keep) -> list[dict[str, Any]]:
    """Rows reduced to the instructions `keep(id)` accepts (prompt-level then means: all of those hold)."""
    out = []
    for r in rows:
        c = r["checks"]
        idx = [i for i, cid in enumerate(c["ids"]) if keep(cid)]
        if idx:
            out.append({**r, "checks": {k: [c[k][i] for i in idx] for k in ("ids", "strict", "loose")}})
    return out


def _groups(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Row subsets the report breaks down by: split (by each instruction's family), language, family."""
    families = sorted({f for r in rows for f in r["checks"]["families"]})
    return {
        "splits": {s: _instruction_rows(rows, lambda cid, s=s: is_heldout(cid) == (s == "held-out")) for s in SPLITS},
        "langs": {lang: [r for r in rows if r["lang"] == lang] for lang in sorted({r["lang"] for r in rows})},
        "families": {f: _instruction_rows(rows, lambda cid, f=f: family_of(cid) == f) for f in families},
    }


def aggregate_instructions(rows: Sequence[dict[str, Any]], models: Sequence[str], modes: Sequence[str], *,
                           samples: int = 1000, seed: int = 0, compare_previous: bool = False,
                           compare: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The four numbers per model x mode (overall, per split, language and family) and B - A deltas:
    every model against the first, each against the one before it with `compare_previous`, and the
    named `compare` pairs (e.g. an ablation's seeds-only vs all)."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[(r["model"], r["mode"])].append(r)
    results: dict[str, Any] = {}
    for model in models:
        results[model] = {}
        for mode in modes:
            cell = cells[(model, mode)]
            entry = _four(_values(cell), samples, seed)
            # Words (characters for Chinese): a DPO gain that is only longer answers must show.
            entry["mean_length"] = sum(length_units(r.get("response", "")) for r in cell) / len(cell) if cell else None
            for kind, groups in _groups(cell).items():
                entry[kind] = {g: _four(_values(v), samples, seed) for g, v in groups.items() if v}
            results[model][mode] = entry
    pairs = [(models[0], other) for other in models[1:]]
    if compare_previous:  # e.g. SFT+DPO vs SFT
        pairs += list(zip(models[1:], models[2:]))
    pairs += [(a, b) for a, b in compare if (a, b) not in pairs]
    deltas = [{"a": a, "b": b, "mode": mode, **_deltas(cells[(a, mode)], cells[(b, mode)], samples, seed)}
              for a, b in pairs for mode in modes]
    return {"results": results, "deltas": deltas, "models": list(models), "modes": list(modes)}


def _deltas(a_rows: list[dict[str, Any]], b_rows: list[dict[str, Any]], samples: int, seed: int) -> dict[str, Any]:
    """B - A on the prompts both answered: the four numbers overall and per split and language."""
    b_index = {r["task"]: r for r in b_rows}
    pairs = [(r, b_index[r["task"]]) for r in a_rows if r["task"] in b_index]

    def compare(subset_a: list[dict], subset_b: list[dict]) -> dict[str, Any]:
        va, vb = _values(subset_a), _values(subset_b)
        return {k: paired_compare(va[k], vb[k], samples=samples, seed=seed).to_dict() for k in NUMBERS if va[k]}

    out: dict[str, Any] = {"overall": compare([a for a, _ in pairs], [b for _, b in pairs])}
    a_groups, b_groups = _groups([a for a, _ in pairs]), _groups([b for _, b in pairs])
    for kind in ("splits", "langs"):
        out[kind] = {g: compare(a_groups[kind][g], b_groups[kind][g]) for g in a_groups[kind] if a_groups[kind][g]}
    return out

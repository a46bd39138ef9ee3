"""Training-data variants: one model per data mix, the same recipe, the same budget.

`train.variants: {seeds-only: [seeds], all: [all]}` trains one model per variant on the curated
records whose `source` the variant names, each in `3-train/<variant>/` (its `data.jsonl`, its
`model/`, its own `stage.json`). A variant whose data and settings are unchanged is reused, so
editing one variant retrains that one alone.

The budget ("same token budget"): with `variant_budget: steps` (the default) the variant with the
most records trains first and every other variant runs its number of optimizer steps. Steps are
batches of packed rows of `max_length` tokens, so equal steps mean about equal trained tokens;
smaller data is seen for more epochs. Each variant's trained tokens and epochs are reported, so
the reader sees how equal the budgets were. `variant_budget: epochs` gives every variant the
configured passes over its own data instead (a smaller mix then also gets less compute).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seedtune.errors import ConfigError
from seedtune.records import Record

TrainOne = Callable[[Any], dict[str, Any]]  # TrainConfig -> summary (model, steps, train_tokens, ...)


def select(records: Sequence[Record], sources: Sequence[str] | None) -> list[Record]:
    """The records a variant trains on: those whose source it names (None: all of them)."""
    return [r for r in records if sources is None or r.source in sources]


def train_variants(ctx: Any, out: Path, kept: Sequence[Record], make_config: Callable[..., Any],
                   train_one: TrainOne) -> dict[str, Any]:
    """Train every variant (reusing unchanged ones); returns {"variants": {name: summary}, ...}.

    `make_config(out_dir, data_path, **changes)` builds a variant's TrainConfig; `train_one(cfg)`
    trains it and returns its summary.
    """
    from seedtune.io import sha256_file, write_jsonl
    from seedtune.pipeline.runner import fingerprint, run_part

    train = ctx.config.train
    wanted = train.variant_sources()
    present = dict(Counter(r.source for r in kept).most_common())
    data: dict[str, tuple[Path, list[Record]]] = {}
    for name, sources in wanted.items():
        chosen = select(kept, sources)
        if not chosen:
            raise ConfigError(f"the variant selects none of the {len(kept)} curated records", key=f"train.variants.{name}",
                              hint="the curated records come from: " + ", ".join(f"{s} ({n})" for s, n in present.items()))
        path = out / name / "data.jsonl"
        if not path.exists() or _ids(path) != [r.id for r in chosen]:  # unchanged data keeps its file (and hash)
            write_jsonl(path, chosen)
        data[name] = (path, chosen)

    # The variant with the most records sets the budget, so it trains first (declared order on ties).
    order = sorted(wanted, key=lambda n: -len(data[n][1]))
    results: dict[str, dict[str, Any]] = {}
    budget: int | None = None
    for name in order:
        changes = {"max_steps": budget} if train.variant_budget == "steps" and budget is not None else {}
        config = make_config(out / name, data[name][0], **changes)
        section = {**json.loads(config.model_dump_json(exclude={"data", "output"})), "variant": name,
                   "sources": wanted[name]}
        fp = fingerprint(section, [data[name][0]], [])
        ctx.log(f"[train] variant '{name}': {len(data[name][1])} records"
                + (f", {budget} steps (the budget of '{order[0]}')" if "max_steps" in changes else ""))
        summary, reused, seconds = run_part(out / name, fp, lambda: train_one(config), force=ctx.forcing, config=section)
        if reused:
            ctx.log(f"[train] variant '{name}' unchanged, reused ({out / name})")
        if budget is None:
            budget = int(summary["steps"])
        results[name] = {**summary, "records": len(data[name][1]),
                         "sources": dict(Counter(r.source for r in data[name][1]).most_common()),
                         "selected": wanted[name] or "all", "data_sha256": sha256_file(data[name][0]),
                         "reused": reused, "seconds": round(seconds, 1)}
    return {"variants": {name: results[name] for name in wanted}, "budget": train.variant_budget,
            "budget_variant": order[0], "budget_steps": budget}


def _ids(path: Path) -> list[str]:
    return [json.loads(line).get("id", "") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

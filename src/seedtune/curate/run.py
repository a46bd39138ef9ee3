"""`curate(records | path, output_dir, config)`: read, run the funnel, write kept/dropped/funnel.

    output_dir/
      kept.jsonl      records that passed every filter (with scores and kept_reason)
      dropped.jsonl   every dropped record with filter, reason and score
      funnel.json     per-filter counts in/out, top reasons, timings, the resolved config
      diversity.md    (+ diversity.json, lengths.png, composition.png) of the kept records
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedtune.curate.base import Dropped
from seedtune.curate.catalog import build_filter
from seedtune.curate.config import CurateConfig
from seedtune.curate.funnel import FunnelResult, order_filters, run_funnel
from seedtune.io import write_json, write_jsonl
from seedtune.records import Record


@dataclass
class CurateResult:
    kept: list[Record]
    dropped: list[Dropped]
    funnel: FunnelResult
    n_input: int
    output_dir: Path
    messages: list[str] = field(default_factory=list)  # notes for the user (e.g. empty input)

    @property
    def paths(self) -> dict[str, Path]:
        names = ("kept.jsonl", "dropped.jsonl", "funnel.json", "diversity.md")
        return {n: self.output_dir / n for n in names if (self.output_dir / n).exists()}


def curate(
    records: Sequence[Record] | str | Path,
    output_dir: str | Path,
    config: CurateConfig | None = None,
    *,
    teacher: Any = None,
    encoder: Callable[[list[str]], Any] | None = None,
    suite: Sequence[Record] | None = None,
    tokenizer: Any = None,
    progress: Callable[[str, int], None] | None = None,
) -> CurateResult:
    """Run the configured filters over `records` (or a file of them) and write the outputs.

    `teacher` (llm-judge), `encoder` (embedding: texts -> vectors), `suite` (decontamination
    records) and `tokenizer` (length in tokens) override what the config would load, so tests and
    callers that already hold these objects need no model files.
    """
    config = config or CurateConfig()
    output_dir = Path(output_dir)
    messages: list[str] = []
    if isinstance(records, (str, Path)):
        from seedtune.formats import read_records

        path = Path(records)
        items = read_records(path, format=config.input_format, on_error=config.on_error)
        if not items:
            messages.append(f"{path} has no records: nothing to curate; wrote empty outputs to {output_dir}")
    else:
        items = list(records)

    deps = {"teacher": teacher, "encoder": encoder, "suite": suite, "tokenizer": tokenizer}
    deps = {k: v for k, v in deps.items() if v is not None}
    # Build every filter before running any, so a config mistake fails before minutes of work.
    filters = order_filters([build_filter(name, config, deps) for name in dict.fromkeys(config.filters)], config.order)
    result = (run_funnel(items, filters, progress=progress, trusted_sources=config.trusted_sources)
              if items else FunnelResult([], [], []))

    passed = ", ".join(f.name for f in filters)
    kept = [r if r.kept_reason else r.model_copy(update={"kept_reason": f"passed: {passed}"}) for r in result.kept]
    result.kept = kept
    output_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(output_dir / "kept.jsonl", kept)
    write_jsonl(output_dir / "dropped.jsonl", result.dropped)
    summary = result.to_dict(len(items))
    summary["filters"] = [f.name for f in filters]
    summary["config"] = config.model_dump(mode="json")
    write_json(output_dir / "funnel.json", summary)
    if config.report:
        from seedtune.curate.diversity import write_diversity_report

        write_diversity_report(kept, output_dir, title=f"Diversity of the {len(kept)} kept records")
    return CurateResult(kept, result.dropped, result, len(items), output_dir, messages)

"""`curate(records | path, output_dir, config)`: read, run the funnel, write kept/dropped/funnel.

    output_dir/
      kept.jsonl      records that passed every filter (with scores and kept_reason)
      dropped.jsonl   every dropped record with filter, reason and score
      funnel.json     per-filter counts in/out, top reasons, timings, the resolved config
      diversity.md    (+ diversity.json, lengths.png, composition.png) of the kept records
      rejected.jsonl  input rows that could not be read, with reasons (on_error="skip" only)

The folder holds this run's files only: temp files a killed run left are removed first, and
files of an earlier run that this run does not write (e.g. the diversity report after
`report: false`) are removed afterwards, with a message.
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
from seedtune.errors import InputError
from seedtune.io import ensure_dir, remove_stale_temps, same_file, write_json, write_jsonl
from seedtune.records import Record


# Every file `curate` writes into its output folder (the diversity report's too).
OUTPUT_FILES = ("kept.jsonl", "dropped.jsonl", "funnel.json", "rejected.jsonl",
                "diversity.md", "diversity.json", "lengths.png", "composition.png")


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
        _refuse_output_over(Path(records), output_dir)
    ensure_dir(output_dir)
    written = {"kept.jsonl", "dropped.jsonl", "funnel.json"}
    if remove_stale_temps(output_dir, OUTPUT_FILES):
        messages.append(f"removed temp files an interrupted run left in {output_dir}")
    items = _read(Path(records), config, output_dir, messages, written) if isinstance(records, (str, Path)) else list(records)

    deps = {"teacher": teacher, "encoder": encoder, "suite": suite, "tokenizer": tokenizer}
    deps = {k: v for k, v in deps.items() if v is not None}
    # Build every filter before running any, so a config mistake fails before minutes of work.
    filters = order_filters([build_filter(name, config, deps) for name in dict.fromkeys(config.filters)], config.order)
    result = (run_funnel(items, filters, progress=progress, trusted_sources=config.trusted_sources)
              if items else FunnelResult([], [], []))

    passed = ", ".join(f.name for f in filters)
    kept = [r if r.kept_reason else r.model_copy(update={"kept_reason": f"passed: {passed}"}) for r in result.kept]
    result.kept = kept
    write_jsonl(output_dir / "kept.jsonl", kept)
    write_jsonl(output_dir / "dropped.jsonl", result.dropped)
    summary = result.to_dict(len(items))
    summary["filters"] = [f.name for f in filters]
    summary["config"] = config.model_dump(mode="json")
    write_json(output_dir / "funnel.json", summary)
    if config.report:
        from seedtune.curate.diversity import write_diversity_report

        write_diversity_report(kept, output_dir, title=f"Diversity of the {len(kept)} kept records")
        written.update({"diversity.md", "diversity.json"} | ({"lengths.png", "composition.png"} if kept else set()))
    messages += _remove_older_outputs(output_dir, written)
    return CurateResult(kept, result.dropped, result, len(items), output_dir, messages)


def _read(path: Path, config: CurateConfig, output_dir: Path, messages: list[str], written: set[str]) -> list[Record]:
    """The input file's records; unreadable rows (on_error="skip") go to OUTPUT/rejected.jsonl."""
    from seedtune.formats.api import read_records_with_report

    report = read_records_with_report(path, format=config.input_format, on_error=config.on_error,
                                      rejected_path=output_dir / "rejected.jsonl")
    if report.rejected:
        written.add("rejected.jsonl")
        messages.append(f"skipped {report.n_rejected} unreadable rows of {path}; reasons in {report.rejected_path}")
    if not report.records:
        messages.append(f"{path} has no records: nothing to curate; wrote empty outputs to {output_dir}")
    return report.records


def _refuse_output_over(path: Path, output_dir: Path) -> None:
    """`curate cur/kept.jsonl cur/` would replace its own input with the kept subset: refuse."""
    if same_file(path, output_dir):
        raise InputError("the output folder is the input file", path=path,
                         hint="pass a new folder as OUTPUT, e.g. curated/")
    clash = next((name for name in OUTPUT_FILES if same_file(output_dir / name, path)), None)
    if clash:
        raise InputError(f"the input is the {clash} this command would write into {output_dir}; "
                         "refusing to overwrite it", path=path,
                         hint=f"pass another output folder (or copy {path.name} elsewhere first)")


def _remove_older_outputs(output_dir: Path, written: set[str]) -> list[str]:
    """Delete our own files that an earlier run left and this one did not rewrite, so the folder
    never mixes two runs' outputs; says which."""
    old = [output_dir / n for n in OUTPUT_FILES if n not in written and (output_dir / n).exists()]
    for path in old:
        path.unlink()
    if not old:
        return []
    return [f"removed {', '.join(p.name for p in old)} of an earlier run in {output_dir} (this run did not write them)"]

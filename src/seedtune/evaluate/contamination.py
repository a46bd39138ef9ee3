"""The unseen-task protocol: is a suite task in the model's training data?

A "zero-shot on unseen tasks" number means nothing if the task was trained on. The rule is
`seedtune.overlap`'s, the one curation's decontamination filter drops by: a shared 13-gram over
instruction + input + output(s), or a short training instruction with ROUGE-L F >= 0.7 against
the task's instruction. Each instance of a task is one suite item; a hit names the task.

The training data comes from `--train-data` files and from the model's `lineage.json` (written by
training: data file name + sha256). The file named there is looked for beside the model and in
the sibling stage folders of a pipeline run, and used only if its hash matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seedtune.io import sha256_file
from seedtune.overlap import OverlapRule, SuiteIndex, SuiteItem, joined

from seedtune.evaluate.suites import Suite

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    instructions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # overlap.joined(instruction, input, output)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    def add(self, instruction: str, text: str) -> None:
        self.instructions.append(instruction)
        self.texts.append(text)


@dataclass
class Hit:
    task: str
    reason: str  # "13-gram" or "rouge-l" (overlap.Overlap.kind)
    score: float
    match: str  # the training text that matched (truncated)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def training_data(model_dir: Path | None, train_files: Sequence[str | Path] = ()) -> TrainingData:
    """Training records of a model: explicit files plus the data file its lineage.json names."""
    data = TrainingData()
    files = [Path(p) for p in train_files]
    lineage = (model_dir / "lineage.json") if model_dir else None
    if lineage is not None and lineage.is_file():
        try:
            info = json.loads(lineage.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            info = {}
            data.notes.append(f"{lineage.name} is not valid JSON; contamination unchecked from lineage")
        for row in _inline_records(info):
            data.add(row.get("instruction", ""), _joined(row))
        if info.get("data_file"):
            found = _find_data_file(model_dir, str(info["data_file"]), info.get("data_sha256"))
            if found is None:
                data.notes.append(
                    f"training data file {info['data_file']!r} named in lineage.json was not found beside the "
                    "model (or its sha256 differs); pass --train-data to check contamination")
            elif info.get("data_kind") == "pairs":  # a DPO model: its prompts and both answers
                from seedtune.formats.pairs import read_pairs

                for pair in read_pairs(found):
                    data.add(pair.instruction, "\n".join((pair.instruction, pair.input, pair.chosen, pair.rejected)))
                data.sources.append(str(found))
            else:
                files.append(found)
    for path in dict.fromkeys(files):
        for rec in _read(path):
            data.add(rec.instruction, joined(rec.instruction, rec.input, rec.output))
        data.sources.append(str(path))
    return data


def _inline_records(info: object) -> Iterable[dict]:
    """Records embedded in lineage.json (any list of dicts with an 'instruction'), if any."""
    if isinstance(info, dict):
        for value in info.values():
            yield from _inline_records(value)
    elif isinstance(info, list):
        for item in info:
            if isinstance(item, dict) and isinstance(item.get("instruction"), str):
                yield item
            else:
                yield from _inline_records(item)


def _joined(row: dict) -> str:
    return joined(*(str(row.get(k) or "") for k in ("instruction", "input", "output")))


def _find_data_file(model_dir: Path, name: str, sha256: str | None) -> Path | None:
    candidates = [model_dir / name, model_dir.parent / name]
    for base in (model_dir.parent, model_dir.parent.parent):
        if base.is_dir():
            candidates += sorted(base.glob(f"*/{name}"))
    for path in dict.fromkeys(candidates):
        if path.is_file() and (not sha256 or sha256_file(path) == sha256):
            return path
    return None


def _read(path: Path):
    from seedtune.formats import read_records

    return read_records(path)


def check(suite: Suite, data: TrainingData, rule: OverlapRule = OverlapRule()) -> dict[str, Hit]:
    """Contaminated task id -> the first evidence found, under `seedtune.overlap`'s rule."""
    hits: dict[str, Hit] = {}
    if not data.texts:
        return hits
    index = SuiteIndex((SuiteItem(task.id, task.instruction_for(inst),
                                  joined(task.instruction_for(inst), inst.input, inst.references))
                        for task in suite.tasks for inst in task.instances), rule)
    for instruction, text in zip(data.instructions, data.texts):
        for hit in index.matches(instruction, text):
            if hit.key not in hits:
                hits[hit.key] = Hit(hit.key, hit.kind, round(hit.score, 3), text[:200])
    for hit in hits.values():
        log.warning("CONTAMINATION: suite task %r appears in the training data (%s, score %.2f): %r",
                    hit.task, hit.reason, hit.score, hit.match[:80])
    return hits

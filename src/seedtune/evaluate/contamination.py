"""The unseen-task protocol: is a suite task in the model's training data?

A "zero-shot on unseen tasks" number means nothing if the task was trained on. Two checks, the
same ones curation's decontamination filter uses, on `seedtune.textsim` tokens (CJK characters
are tokens, so Chinese tasks are checked too):

- any shared 13-gram between a task (instruction, inputs, references) and a training record
  (the GPT-3 paper's contamination test, Brown et al. 2020, Appendix C);
- an instruction whose ROUGE-L F with a training instruction is >= 0.7 (the Self-Instruct
  novelty threshold), found with `NoveltyIndex` so large training sets stay fast.

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
from seedtune.textsim import NoveltyIndex, ngrams, tokenize

from seedtune.evaluate.suites import Suite

log = logging.getLogger(__name__)
NGRAM = 13
ROUGE_THRESHOLD = 0.7


@dataclass
class TrainingData:
    instructions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # instruction + input + output, for n-grams
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    def add(self, instruction: str, text: str) -> None:
        self.instructions.append(instruction)
        self.texts.append(text)


@dataclass
class Hit:
    task: str
    reason: str  # "13-gram" or "rouge-l"
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
            data.add(rec.instruction, "\n".join((rec.instruction, rec.input, rec.output)))
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
    return "\n".join(str(row.get(k) or "") for k in ("instruction", "input", "output"))


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


def check(suite: Suite, data: TrainingData) -> dict[str, Hit]:
    """Contaminated task id -> the first evidence found (13-gram overlap, else instruction ROUGE-L)."""
    hits: dict[str, Hit] = {}
    if not data.texts:
        return hits
    # 13-grams of the (small) suite in memory; stream the (large) training texts past them.
    owner: dict[tuple[str, ...], str] = {}
    for task in suite.tasks:
        for inst in task.instances:
            text = "\n".join([task.instruction_for(inst), inst.input, *inst.references])
            for gram in ngrams(tokenize(text), NGRAM):
                owner.setdefault(gram, task.id)
    for text in data.texts:
        for gram in ngrams(tokenize(text), NGRAM):
            task_id = owner.get(gram)
            if task_id and task_id not in hits:
                hits[task_id] = Hit(task_id, f"{NGRAM}-gram", 1.0, text[:200])
    # Instruction similarity; F >= 0.7 counts (the index drops F > threshold, so nudge it down).
    index = NoveltyIndex(threshold=ROUGE_THRESHOLD - 1e-9)
    for instruction in data.instructions:
        index.add(instruction)
    for task in suite.tasks:
        if task.id in hits:
            continue
        kept, score, nearest = index.check(task.instruction)
        if not kept:
            hits[task.id] = Hit(task.id, "rouge-l", round(score, 3), index.texts[nearest][:200] if nearest is not None else "")
    for hit in hits.values():
        log.warning("CONTAMINATION: suite task %r appears in the training data (%s, score %.2f): %r",
                    hit.task, hit.reason, hit.score, hit.match[:80])
    return hits

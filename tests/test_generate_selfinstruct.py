"""Self-Instruct logic with a deterministic fake teacher: pool growth, filters, novelty, instances,
provenance, determinism, and resume after SIGKILL (subprocess) equal to an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seedtune.generate.common import TeacherConfig
from seedtune.generate.self_instruct import (
    SelfInstructConfig,
    heuristic_reason,
    parse_instance,
    parse_instructions,
    self_instruct,
)
from seedtune.records import Record
from seedtune.teachers.base import Completion, Request
from seedtune.textsim import rouge_l

TESTS = Path(__file__).parent


class FakeSelfInstructTeacher:
    """Answers Self-Instruct's three prompt kinds deterministically from each request's seed.

    Instruction lists hold novel tasks made of random pseudo-words, one task a text model cannot
    do, and one copy of a shown task (so both filters must fire). `delay` slows each call down so
    a test can kill the process mid-run.
    """

    model_id = "fake-self-instruct"

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls = 0
        self.requests = 0

    def reply(self, request: Request) -> str:
        prompt = request.messages[-1][1]
        rng = random.Random(request.seed or 0)
        if prompt.rstrip().endswith(("Classification:", "分类任务：")):
            task = prompt.rstrip().splitlines()[-2]
            return "Yes" if "label" in task else "No"
        if "Class label" in prompt.splitlines()[-1] or "Write an example for the classification task" in prompt:
            return f"Class label: L{rng.randrange(3)}\nInput: sample text {rng.randrange(1000)}"
        if "Write an example for the task below" in prompt:
            if rng.random() < 0.1:
                return "I cannot think of one."  # no parsable instance
            return f"Input: x{rng.randrange(1000)}\nOutput: y{rng.randrange(1000)}"
        shown = [line.split(": ", 1)[1] for line in prompt.splitlines() if line.startswith("Task ") and ": " in line]
        lines = []
        for k in range(3):
            words = " ".join(f"w{rng.randrange(100000)}" for _ in range(5))
            verb = rng.choice(["Explain", "Describe", "Summarize", "Rewrite", "Choose a label for"])
            lines.append(f"{verb} {words} in plain words.")
        lines.append("Draw a picture of a cat on a mat.")
        lines.append(shown[0] if shown else "Say hi.")
        first, rest = lines[0], lines[1:]
        start = len(shown) + 2
        return first + "\n" + "\n".join(f"Task {start + i}: {t}" for i, t in enumerate(rest))

    def generate(self, requests):
        if self.delay:
            time.sleep(self.delay)
        self.calls += 1
        self.requests += len(requests)
        out = []
        for request in requests:
            text = self.reply(request)
            out.append(Completion(texts=[text] * request.n, prompt_tokens=10, completion_tokens=len(text.split()),
                                  finish_reasons=["stop"] * request.n, key=request.key(self.model_id)))
        return out


def seeds() -> list[Record]:
    texts = ["Translate the sentence into French.", "Summarize the paragraph in one sentence.",
             "Classify the sentiment of the review with a label.", "Write a haiku about autumn leaves.",
             "Give three tips for staying focused while studying.", "Explain what a prime number is.",
             "List four uses of baking soda at home.", "Convert the recipe quantities for six people.",
             "Suggest a title for the following blog post.", "Is this email spam or not spam? Answer with a label.",
             "把下面的句子翻译成英文。", "总结这段话的主要内容。"]
    return [Record(instruction=t, output="x", source="seed") for t in texts]


def config(tmp_path: Path, target: int = 12, **kw) -> SelfInstructConfig:
    return SelfInstructConfig(teacher=TeacherConfig(cache=str(tmp_path / "cache.sqlite")), target=target,
                              requests_per_round=3, lang="en", **kw)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_parsers_and_filters():
    assert parse_instructions("Write a limerick.\nTask 10: Name two rivers.\n  details\n11) Sort the list.") == [
        "Write a limerick.", "Name two rivers.", "Sort the list."]
    assert parse_instructions("任务 9：写一首诗。\n任务 10：解释引力。") == ["写一首诗。", "解释引力。"]
    assert parse_instance("Input: None\nOutput: Hello", False) == ("", "Hello")
    assert parse_instance("Class label: Spam\nInput: Win money now", True) == ("Win money now", "Spam")
    assert parse_instance("just words", False) is None
    assert heuristic_reason("Look at the graph and explain it.") == "needs_non_text"
    assert heuristic_reason("请看这张图片并描述。") == "needs_non_text"
    assert heuristic_reason("Summarize.") == "too_short"
    assert heuristic_reason("Explain how tides work.") is None


def test_pool_grows_to_target_with_filters_and_provenance(tmp_path):
    teacher = FakeSelfInstructTeacher()
    out = tmp_path / "pool.jsonl"
    summary = self_instruct(seeds(), out, config(tmp_path), teacher=teacher, progress=False)
    kept = rows(out)
    dropped = rows(tmp_path / "pool.rejected.jsonl")
    assert summary["new_instructions"] == 12
    instructions = [r["instruction"] for r in kept] + [r["instruction"] for r in dropped if r["meta"]["rejected"] == "no_instance"]
    assert len(instructions) == 12 and len(set(instructions)) == 12
    reasons = {r["meta"]["rejected"] for r in dropped}
    assert {"needs_non_text", "too_similar"} <= reasons
    # Novelty holds against the seeds and among the new instructions (ROUGE-L <= 0.7).
    pool = [s.instruction for s in seeds()]
    for text in instructions:
        assert all(rouge_l(text, other) <= 0.7 for other in pool)
        pool.append(text)
    for r in kept:
        assert r["source"] == "self-instruct" and r["teacher"] == "fake-self-instruct"
        assert len(r["parent_ids"]) == 8 and r["round"] >= 0
        assert r["meta"]["method"] == "self-instruct" and r["meta"]["template_id"] == "si_instructions.en"
        assert len(r["meta"]["request_key"]) == 64 and r["meta"]["instance_request_key"]
        if r["is_classification"]:  # output-first: the label is the output
            assert r["output"].startswith("L") and r["input"].startswith("sample text")
        else:
            assert r["output"].startswith("y")
    stats = json.loads((tmp_path / "pool.stats.json").read_text())
    assert stats["accepted"] == len(kept) and stats["rejected_by_reason"]["too_similar"] >= 1


def test_same_seed_same_output_and_rerun_asks_nothing(tmp_path):
    first = FakeSelfInstructTeacher()
    self_instruct(seeds(), tmp_path / "a.jsonl", config(tmp_path), teacher=first, progress=False)
    # Simulate a kill: keep half the rows, cut the last one in half.
    data = (tmp_path / "a.jsonl").read_text().splitlines(keepends=True)
    half = data[: len(data) // 2]
    (tmp_path / "b.jsonl").write_text("".join(half) + data[len(half)][:20])
    # What a killed run leaves beside its output: the marker that says the file is its own.
    (tmp_path / "b.stats.json").write_text('{"method": "self-instruct", "output": "b.jsonl", "complete": false}')
    again = FakeSelfInstructTeacher()
    summary = self_instruct(seeds(), tmp_path / "b.jsonl", config(tmp_path), teacher=again, progress=False)
    assert (tmp_path / "b.jsonl").read_text() == (tmp_path / "a.jsonl").read_text()
    assert again.requests == 0  # every answer came from the cache
    assert summary["resumed_rows"] == len(half)
    # A fresh cache with the same seed reproduces the same data; another seed does not.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    self_instruct(seeds(), fresh / "c.jsonl", config(fresh), teacher=FakeSelfInstructTeacher(), progress=False)
    assert (fresh / "c.jsonl").read_text() == (tmp_path / "a.jsonl").read_text()
    self_instruct(seeds(), fresh / "d.jsonl", config(fresh, seed=1), teacher=FakeSelfInstructTeacher(), progress=False)
    assert (fresh / "d.jsonl").read_text() != (tmp_path / "a.jsonl").read_text()


def test_output_from_another_command_is_not_mixed(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text(json.dumps(Record(instruction="something else").to_dict()) + "\n")
    from seedtune.errors import InputError

    with pytest.raises(InputError, match="did not write"):
        self_instruct(seeds(), out, config(tmp_path), teacher=FakeSelfInstructTeacher(), progress=False)
    assert out.read_text() == json.dumps(Record(instruction="something else").to_dict()) + "\n"  # untouched


def test_a_changed_config_rebuilds_from_the_cache_without_asking_again(tmp_path):
    """Raising the target after a finished run: no "row N differs" error, no answer bought twice."""
    first = FakeSelfInstructTeacher()
    out = tmp_path / "si.jsonl"
    self_instruct(seeds(), out, config(tmp_path, target=4), teacher=first, progress=False)
    small = rows(out)
    more = FakeSelfInstructTeacher()
    summary = self_instruct(seeds(), out, config(tmp_path, target=12), teacher=more, progress=False)
    reference = tmp_path / "ref"
    reference.mkdir()
    ref_teacher = FakeSelfInstructTeacher()
    self_instruct(seeds(), reference / "si.jsonl", config(reference, target=12), teacher=ref_teacher, progress=False)
    assert out.read_text() == (reference / "si.jsonl").read_text()  # as if run with target 12 from the start
    assert [r["id"] for r in rows(out)][:2] == [r["id"] for r in small][:2]
    assert summary["cache"]["hits"] > 0 and more.requests == summary["cache"]["misses"]
    assert more.requests < ref_teacher.requests
    # Lowering it again rebuilds the shorter file from the cache alone (and clears what a killed
    # rebuild would have left).
    (tmp_path / ".si.jsonl.rebuild").write_text("half a rebuild")
    again = FakeSelfInstructTeacher()
    self_instruct(seeds(), out, config(tmp_path, target=4), teacher=again, progress=False)
    assert rows(out) == small and again.requests == 0
    assert not list(tmp_path.glob(".*.rebuild"))


def test_max_cost_is_a_hard_budget_and_a_higher_one_continues(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("fake-self-instruct: {input: 1, output: 1}\n")
    cfg = config(tmp_path, target=50)
    cfg.teacher.prices = str(prices)
    cfg.teacher.max_cost = 0.004  # $1 per 1M tokens: a few requests' worst case
    out = tmp_path / "p.jsonl"
    first = FakeSelfInstructTeacher()
    summary = self_instruct(seeds(), out, cfg, teacher=first, progress=False)
    assert summary["stopped_early"] and "max_cost" in summary["stopped_early"]
    assert 0 < summary["cost"] <= 0.004 and summary["budget"]["undone_requests"] > 0
    assert first.requests > 0
    cfg.teacher.max_cost = 0.02
    more = FakeSelfInstructTeacher()
    bigger = self_instruct(seeds(), out, cfg, teacher=more, progress=False)
    assert bigger["cost"] <= 0.02 and bigger["accepted"] > summary["accepted"]
    assert bigger["cache"]["hits"] >= first.requests  # what was paid is reused, not bought again
    assert bigger["cost_per_kept"] == pytest.approx(bigger["cost"] / bigger["accepted"], abs=1e-6)



SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_generate_selfinstruct import FakeSelfInstructTeacher, seeds, config
from seedtune.generate.self_instruct import self_instruct
from pathlib import Path
tmp = Path({tmp!r})
self_instruct(seeds(), tmp / {name!r}, config(tmp, target=30), teacher=FakeSelfInstructTeacher(delay={delay}), progress=False)
"""


def _script(tmp: Path, name: str, delay: float) -> list[str]:
    return [sys.executable, "-c", SCRIPT.format(tests=str(TESTS), tmp=str(tmp), name=name, delay=delay)]


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir()
    clean_dir.mkdir()
    out = killed_dir / "pool.jsonl"
    proc = subprocess.Popen(_script(killed_dir, "pool.jsonl", 0.3))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.05)
    time.sleep(0.4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = out.read_text().count("\n")
    assert partial > 0
    subprocess.run(_script(killed_dir, "pool.jsonl", 0.0), check=True)
    subprocess.run(_script(clean_dir, "pool.jsonl", 0.0), check=True)
    assert out.read_text() == (clean_dir / "pool.jsonl").read_text()
    assert (killed_dir / "pool.rejected.jsonl").read_text() == (clean_dir / "pool.rejected.jsonl").read_text()
    assert len(rows(out)) > partial

"""The embedded SmolLM2-135M-Instruct teacher grows our seed tasks with Self-Instruct (slow: real model)."""

from __future__ import annotations

import json
import time

import pytest

from seedtune.generate.common import TeacherConfig
from seedtune.generate.self_instruct import SelfInstructConfig, heuristic_reason, self_instruct
from seedtune.textsim import rouge_l


@pytest.mark.slow
def test_smollm2_adds_20_new_instructions_from_our_seeds(tmp_path):
    from seedtune.data import seed_tasks_path
    from seedtune.formats import read_records

    seeds = read_records(seed_tasks_path())
    config = SelfInstructConfig(
        # engine hf: with llama-cpp-python installed, auto would run llama.cpp and name the teacher after it
        teacher=TeacherConfig(teacher="hf:smollm2-135m-instruct", engine="hf", batch_size=8, cache=str(tmp_path / "c.sqlite")),
        target=20, requests_per_round=8, max_tokens=200, lang="en", instances=False, max_rounds=12)
    started = time.monotonic()
    summary = self_instruct(seeds, tmp_path / "new.jsonl", config, progress=False)
    seconds = time.monotonic() - started
    rows = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
    assert summary["new_instructions"] >= 20 and len(rows) >= 20
    pool = list(dict.fromkeys(s.instruction for s in seeds))
    for row in rows:
        assert heuristic_reason(row["instruction"]) is None
        assert max(rouge_l(row["instruction"], other) for other in pool) <= 0.7
        assert row["teacher"] == "hf:smollm2-135m-instruct" and row["meta"]["request_key"]
        pool.append(row["instruction"])
    judged = summary["accepted"] + summary["rejected"] - summary["rejected_by_reason"].get("target_reached", 0)
    print(f"\nSmolLM2 Self-Instruct: {summary['accepted']} accepted of {judged} parsed "
          f"({summary['accepted'] / judged:.0%}) in {summary['rounds']} rounds, {seconds:.0f} s; "
          f"rejected {summary['rejected_by_reason']}")

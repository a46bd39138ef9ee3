"""Editing a finished run is normal: a changed generation setting rebuilds the stage's output from
the request cache (answers already paid for are reused, only new ones asked) and reruns what is
downstream; input files named in the YAML are fingerprinted by their content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from seedtune.pipeline import run_pipeline
from seedtune.pipeline.config import load_pipeline
from seedtune.pipeline.stages import build_stages, named_files
from seedtune.teachers import register

from test_generate_selfinstruct import FakeSelfInstructTeacher

TEACHERS: list[FakeSelfInstructTeacher] = []


def _scripted(name: str, base_url: str | None = None, **kw: object) -> FakeSelfInstructTeacher:
    TEACHERS.append(FakeSelfInstructTeacher())
    return TEACHERS[-1]


register("scripted-si", _scripted)


def _pipeline(tmp_path: Path, runs: str, cache: str) -> Path:
    seeds = tmp_path / "seeds.jsonl"
    if not seeds.exists():
        from seedtune.data import seed_tasks_path

        seeds.write_text("".join(Path(seed_tasks_path()).read_text(encoding="utf-8").splitlines(True)[:12]),
                         encoding="utf-8")
    config = {"name": "edit", "runs_dir": str(tmp_path / runs), "seeds": str(seeds),
              "generate": {"self_instruct": {"teacher": {"teacher": "scripted-si:x", "cache": str(tmp_path / cache)},
                                             "target": 4, "requests_per_round": 3, "lang": "en"}},
              "curate": {"filters": ["exact"], "report": False},
              "train": {"model": "unused-here"}}
    path = tmp_path / f"{runs}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _asked() -> int:
    return sum(t.requests for t in TEACHERS)


def test_raising_the_target_after_a_finished_run_rebuilds_from_the_cache(tmp_path):
    path = _pipeline(tmp_path, "runs", "cache.sqlite")
    run_pipeline(path, until="curate", log=lambda m: None)
    first = _asked()
    result = run_pipeline(path, ["generate.self_instruct.target=9"], until="curate", log=lambda m: None)
    assert {o.name: o.skipped for o in result.outcomes} == {"generate": False, "curate": False}
    summary = result.outcomes[0].summary["self_instruct"]
    assert summary["accepted"] == 9  # no "row N differs ... delete this file"
    assert summary["cache"]["hits"] >= first  # every answer of the first run was reused ...
    assert _asked() - first == summary["cache"]["misses"]  # ... and only new requests were sent
    # The same output as a run that had target 9 from the start.
    fresh = _pipeline(tmp_path, "fresh", "fresh.sqlite")
    run_pipeline(fresh, ["generate.self_instruct.target=9"], until="generate", log=lambda m: None)
    produced = lambda runs: (tmp_path / runs / "edit" / "1-generate" / "self_instruct.jsonl").read_text()  # noqa: E731
    assert produced("runs") == produced("fresh")
    # Lowering it again rebuilds the smaller output from the cache alone.
    before = _asked()
    result = run_pipeline(path, ["generate.self_instruct.target=4"], until="generate", log=lambda m: None)
    assert result.outcomes[0].summary["self_instruct"]["rebuilt"] is True and _asked() == before


def test_input_files_named_in_the_yaml_are_fingerprinted_by_content(tmp_path):
    path = _pipeline(tmp_path, "runs", "cache.sqlite")
    run_pipeline(path, until="curate", log=lambda m: None)
    seeds = tmp_path / "seeds.jsonl"
    lines = seeds.read_text(encoding="utf-8").splitlines(True)
    seeds.write_text("".join(lines[:-1]), encoding="utf-8")  # same path, different content
    result = run_pipeline(path, until="curate", log=lambda m: None)
    assert not any(o.skipped for o in result.outcomes)
    again = run_pipeline(path, until="curate", log=lambda m: None)
    assert all(o.skipped for o in again.outcomes)


def test_suites_data_and_price_tables_are_stage_inputs(tmp_path):
    suite, prices, extra = tmp_path / "suite.jsonl", tmp_path / "prices.yaml", tmp_path / "more.jsonl"
    for f in (suite, prices, extra):
        f.write_text("{}\n")
    config = load_pipeline(None, data={
        "name": "x", "runs_dir": str(tmp_path / "runs"), "train": {"model": "m"},
        "curate": {"decontamination": {"against": str(suite)}, "judge": {"prices": str(prices)}},
        "eval": {"suite": str(suite), "train_data": [str(extra)], "cache": str(tmp_path / "c.sqlite")}})
    stages = {s.name: s for s in build_stages(config)}
    assert set(stages["curate"].inputs(None)) == {suite, prices}
    assert set(stages["eval"].inputs(None)) == {suite, extra}  # the request cache is not an input
    assert named_files({"output": str(suite), "nested": [{"path": str(extra)}]}) == [extra]

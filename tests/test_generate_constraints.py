"""Constraint data: every kept record passes its checkers; a broken transformation is caught, not written."""

from __future__ import annotations

import json
from pathlib import Path

from seedtune.data import seed_tasks_path
from seedtune.formats import read_records
from seedtune.generate.common import TeacherConfig
from seedtune.generate.constraints import RECIPES, ConstraintsConfig, Recipe, add_constraints
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher
from seedtune.verifiable import HELDOUT_FAMILIES, TRAINING_FAMILIES, constraints_of, family_of, score


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_seeds_every_kept_record_passes_its_checkers(tmp_path):
    seeds = read_records(seed_tasks_path())
    out = tmp_path / "c.jsonl"
    summary = add_constraints(seeds, out, ConstraintsConfig(copies=2, seed=3), progress=False)
    kept = [Record.from_dict(r) for r in rows(out)]
    assert summary["accepted"] == len(kept) > len(seeds)  # two draws per record, most fit
    assert {r.lang for r in kept} == {"en", "zh"}
    ids = set()
    for r in kept:
        cs = constraints_of(r)
        assert 1 <= len(cs) <= 3 and r.source == "constraints" and len(r.parent_ids) == 1
        assert all(family_of(c.id) in TRAINING_FAMILIES for c in cs)
        verdict = score(r.output, cs, prompt=r.instruction)
        assert verdict.strict == r.meta["checks"] == [True] * len(cs)
        ids |= {c.id for c in cs}
    # the transformations reach every recipe that seed answers can take
    assert len(ids) >= 15
    assert any(i.startswith("zh:") for i in ids)
    # deterministic: the same seed writes the same file
    add_constraints(seeds, tmp_path / "d.jsonl", ConstraintsConfig(copies=2, seed=3), progress=False)
    assert (tmp_path / "d.jsonl").read_text() == out.read_text()
    assert json.loads((tmp_path / "c.stats.json").read_text())["accepted"] == len(kept)


def test_instruction_states_the_constraints_in_the_records_language(tmp_path):
    records = [Record(instruction="Describe a quiet harbour at dawn.", output="Boats rest on still water. Gulls call overhead."),
               Record(instruction="描述清晨安静的港口。", output="小船停在平静的水面上。海鸥在头顶鸣叫。")]
    add_constraints(records, tmp_path / "c.jsonl", ConstraintsConfig(min_constraints=2, max_constraints=2, copies=4), progress=False)
    kept = rows(tmp_path / "c.jsonl")
    assert kept
    for r in kept:
        first, _, rules = r["instruction"].partition("\n\n")
        assert first in {x.instruction for x in records} and rules
        assert r["lang"] in ("en", "zh")


def test_a_broken_transformation_is_caught_and_not_written(tmp_path):
    def almost_capitals(text, rng, lang, record):  # forgets the last letter
        return {}, text[:-2].upper() + text[-2:]

    broken = (Recipe("change_case:english_capital", 3, frozenset({"case"}), ("en",), almost_capitals),)
    records = [Record(instruction="Say hello.", output="hello there friend.")]
    summary = add_constraints(records, tmp_path / "c.jsonl", ConstraintsConfig(families=["case"], max_constraints=1),
                              recipes=broken, progress=False)
    assert summary["accepted"] == 0 and rows(tmp_path / "c.jsonl") == []
    dropped = rows(tmp_path / "c.rejected.jsonl")
    assert dropped[0]["meta"]["rejected"] == "failed_check"
    assert dropped[0]["meta"]["detail"]["ids"] == ["change_case:english_capital"]
    assert dropped[0]["meta"]["checks"] == [False]
    assert summary["failed_by_constraint"] == {"change_case:english_capital": 1}


def test_held_out_families_are_only_used_when_asked(tmp_path):
    assert all(family_of(r.id) not in HELDOUT_FAMILIES for r in RECIPES)
    config = ConstraintsConfig()
    assert set(config.families) == set(TRAINING_FAMILIES)


def test_teacher_rewrites_verify_or_drop(tmp_path):
    records = [Record(instruction="Name two colours.", output="Red and blue."),
               Record(instruction="Name a fruit.", output="An apple.")]
    # the first rewrite follows the rule, the second ignores it
    teacher = ScriptedTeacher(["RED AND BLUE.", "An apple."])
    config = ConstraintsConfig(families=["case"], max_constraints=1, seed=1,
                               teacher=TeacherConfig(cache=str(tmp_path / "cache.sqlite")))
    # restrict to one recipe so both records get the same, checkable constraint
    only_caps = tuple(r for r in RECIPES if r.id == "change_case:english_capital")
    summary = add_constraints(records, tmp_path / "t.jsonl", config, teacher=teacher, recipes=only_caps, progress=False)
    kept = rows(tmp_path / "t.jsonl")
    assert [r["output"] for r in kept] == ["RED AND BLUE."]
    assert kept[0]["meta"]["mode"] == "teacher" and kept[0]["teacher"] == "scripted"
    assert summary["rejected_by_reason"] == {"failed_check": 1}
    assert "capital letters" in teacher.seen[0].messages[-1][1]


def test_limit_keeps_a_seeded_sample(tmp_path):
    seeds = read_records(seed_tasks_path())
    summary = add_constraints(seeds, tmp_path / "c.jsonl", ConstraintsConfig(limit=20, seed=5), progress=False)
    kept = rows(tmp_path / "c.jsonl")
    assert summary["accepted"] == len(kept) == 20 and {r["lang"] for r in kept} == {"en", "zh"}


def test_cli_command_and_pipeline_section(tmp_path):
    import pytest
    from typer.testing import CliRunner

    from seedtune.cli import app
    from seedtune.errors import ConfigError
    from seedtune.pipeline.config import PipelineConstraints

    result = CliRunner().invoke(app, ["generate", "constraints", "seeds", str(tmp_path / "c.jsonl"), "--copies", "1",
                                      "--families", "case,wrapping", "--max-constraints", "2", "-q"])
    assert result.exit_code == 0, result.output
    kept = rows(tmp_path / "c.jsonl")
    assert kept and all(family_of(c["id"]) in ("case", "wrapping") for r in kept for c in r["meta"]["constraints"])
    with pytest.raises(ConfigError) as err:
        PipelineConstraints(families=["case", "keywords"])
    assert err.value.key == "generate.constraints.families"

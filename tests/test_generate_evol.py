"""Evol-Instruct with a scripted teacher: operations drawn per (seed, round, position), each
elimination rule fires with its reason, survivors replace parents in the pool, provenance."""

from __future__ import annotations

import json
from pathlib import Path

from seedtune.generate.common import TeacherConfig
from seedtune.generate.evol_instruct import (
    EvolConfig,
    copied_wording,
    evol_instruct,
    only_stop_words,
    parse_rewrite,
    sorry_and_short,
)
from seedtune.records import Record
from seedtune.teachers.base import Request


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def make_teacher():
    """Rewrites append the operation's mark; answers and judgements depend on the instruction text."""
    from seedtune.teachers import ScriptedTeacher

    def reply(request: Request) -> str:
        text = request.messages[-1][1]
        if text.rstrip().endswith('Answer "Equal" or "Not equal" only.'):
            second = text.split("Second prompt:\n", 1)[1]
            return "Equal" if "SAME" in second else "Not equal"
        if text.startswith("You rewrite prompts") or text.startswith("You invent prompts"):
            parent = text.split("Prompt:\n", 1)[1].rsplit("\n\nReply with", 1)[0]
            if "copyme" in parent:
                return "Rewritten Prompt: here is the rewritten prompt for you"
            step = "deeper" if text.startswith("You rewrite") else "broader"
            return f"Prompt: {parent} and go {step}"
        if "sorry" in text:
            return "Sorry, I can't help with that."
        if "stopwords" in text:
            return "the of and, it is."
        return f"A full answer to: {text}"

    return ScriptedTeacher(default=reply, model_id="evol-fake")


def cfg(tmp_path: Path, **kw) -> EvolConfig:
    return EvolConfig(teacher=TeacherConfig(cache=str(tmp_path / "c.sqlite")), **kw)


def test_rules():
    assert copied_wording("Here is the #Rewritten Prompt#: do x") and not copied_wording("Explain tides.")
    assert sorry_and_short("I'm sorry, I cannot do that.", 80)
    assert not sorry_and_short("Sorry for the wait! " + "word " * 100, 80)
    assert only_stop_words("The, and of it.") and only_stop_words("的了是。") and not only_stop_words("Paris")
    assert parse_rewrite('Rewritten prompt: "Explain tides in detail."') == "Explain tides in detail."


def test_rounds_eliminations_and_provenance(tmp_path):
    records = [Record(instruction="Explain tides."), Record(instruction="copyme please"),
               Record(instruction="Say sorry now"), Record(instruction="Write stopwords only"),
               Record(instruction="Keep it SAME")]
    teacher = make_teacher()
    summary = evol_instruct(records, tmp_path / "e.jsonl", cfg(tmp_path, rounds=2), teacher=teacher, progress=False)
    kept, dropped = rows(tmp_path / "e.jsonl"), rows(tmp_path / "e.rejected.jsonl")
    assert summary["rejected_by_reason"] == {"copied_method_wording": 2, "response_sorry_short": 2,
                                             "response_only_stop_words": 2, "no_information_gain": 2}
    assert [r["round"] for r in kept] == [1, 2]
    first, second = kept
    assert first["parent_ids"] == [records[0].id] and second["parent_ids"] == [first["id"]]  # survivor evolved again
    assert second["instruction"].startswith("Explain tides. and go")
    assert second["output"] == f"A full answer to: {second['instruction']}"
    for r in kept + dropped:
        assert r["source"] == "evol" and r["teacher"] == "evol-fake"
        assert r["meta"]["operation"] in ("constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth")
        assert r["meta"]["template_id"].startswith("evol_") and len(r["meta"]["request_key"]) == 64
    # A failed evolution leaves its parent in the pool: round 2 rewrites the original again.
    assert {r["parent_ids"][0] for r in dropped if r["instruction"].startswith("Say sorry")} == {records[2].id}


def test_operation_choice_is_seeded_and_restrictable(tmp_path):
    records = [Record(instruction=f"Explain topic number {i}.") for i in range(12)]
    a = evol_instruct(records, tmp_path / "a.jsonl", cfg(tmp_path, rounds=1), teacher=make_teacher(), progress=False)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    evol_instruct(records, b_dir / "a.jsonl", cfg(b_dir, rounds=1), teacher=make_teacher(), progress=False)
    assert (tmp_path / "a.jsonl").read_text() == (b_dir / "a.jsonl").read_text()
    ops = {r["meta"]["operation"] for r in rows(tmp_path / "a.jsonl")}
    assert len(ops) >= 3 and a["accepted"] == 12
    evol_instruct(records, tmp_path / "c.jsonl", cfg(tmp_path, rounds=1, operations=["breadth"]),
                  teacher=make_teacher(), progress=False)
    assert {r["meta"]["kind"] for r in rows(tmp_path / "c.jsonl")} == {"in-breadth"}


def test_chinese_instructions_use_chinese_templates(tmp_path):
    teacher = make_teacher()
    evol_instruct([Record(instruction="解释潮汐的成因。")], tmp_path / "z.jsonl", cfg(tmp_path, rounds=1),
                  teacher=teacher, progress=False)
    assert "提示" in teacher.seen[0].messages[-1][1]


def test_one_name_evol_with_the_old_spellings_as_aliases(tmp_path):
    from typer.testing import CliRunner

    from seedtune.cli import app
    from seedtune.generate.api import build_config
    from seedtune.pipeline.config import GenerateSection
    from seedtune.records import Record

    assert Record(instruction="x", source="evol-instruct").source == "evol"
    assert GenerateSection.model_validate({"evol_instruct": {"rounds": 2}}).evol.rounds == 2
    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: x\ngenerate:\n  evol_instruct: {rounds: 3}\n")
    assert build_config("evol-instruct", {}, {}, cfg).rounds == 3
    help_text = CliRunner().invoke(app, ["generate", "evol-instruct", "--help"]).output
    assert "--rounds" in help_text

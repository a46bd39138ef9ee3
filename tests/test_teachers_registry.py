"""One teacher string parser and one opener: a kind registered by a plugin works in every stage,
and options reach the kind that supports them (a directory keeps its batch_size/dtype)."""

from __future__ import annotations

import json

import pytest

from seedtune.errors import ConfigError
from seedtune.teachers import ScriptedTeacher, open_teacher, parse, register
from seedtune.teachers import registry

BUILT: list[tuple[str, dict]] = []


def _plugin(name, base_url=None, **options):
    BUILT.append((name, options))
    return ScriptedTeacher(default=lambda r: "Score: 4\nReason: fine.\n[[A]]", model_id=f"plug:{name}")


@pytest.fixture(autouse=True)
def plugin():
    BUILT.clear()
    register("plug", _plugin)
    yield
    registry._KINDS.pop("plug", None)


def test_parse_once():
    assert (parse("plug:x").kind, parse("plug:x").name) == ("plug", "x")
    assert parse("gemma-3-270m", bare="hf").kind == "hf"
    with pytest.raises(ConfigError, match="unknown teacher kind"):
        parse("nope:x")
    with pytest.raises(ConfigError, match="no kind prefix"):
        parse("gemma-3-270m")
    with pytest.raises(ConfigError, match="--base-url"):
        open_teacher("plug:x", base_url="http://127.0.0.1:1/v1")


def test_a_directory_teacher_keeps_batch_size_and_dtype(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setitem(registry._KINDS, "hf", registry.Kind(lambda name, base_url=None, **kw: seen.update(kw) or
                                                              ScriptedTeacher(), local=True))
    from seedtune.generate.common import TeacherConfig, open_teacher as generate_opener

    generate_opener(TeacherConfig(teacher=str(tmp_path), batch_size=3, dtype="bfloat16", cache=str(tmp_path / "c.db")))
    assert seen["batch_size"] == 3 and seen["dtype"] == "bfloat16"


def test_a_registered_teacher_works_in_generate(tmp_path):
    from seedtune.generate.api import generate

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "Say hi."}) + "\n")
    generate("respond", src, tmp_path / "out.jsonl", {}, {"teacher": "plug:gen", "cache": str(tmp_path / "c.db")})
    assert BUILT[0][0] == "gen" and "Score: 4" in (tmp_path / "out.jsonl").read_text()


def test_a_registered_teacher_works_as_the_curation_judge(tmp_path):
    from seedtune.curate import CurateConfig, curate
    from seedtune.records import Record

    cfg = CurateConfig.model_validate({"filters": ["llm-judge"], "report": False, "judge": {
        "teacher": "plug:judge", "check": 0, "cache": str(tmp_path / "c.db")}})
    result = curate([Record(instruction="Explain tides.", output="The moon pulls the sea.")], tmp_path / "o", cfg)
    assert BUILT[0][0] == "judge" and result.kept[0].scores["judge"] == 4.0


def test_a_registered_teacher_works_as_eval_model_and_judge(tmp_path):
    from seedtune.evaluate import EvalConfig, evaluate

    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "t", "instruction": "Say hi.", "metric": "rouge_l",
                                 "instances": [{"input": "", "output": "hi"}]}) + "\n")
    config = EvalConfig(models=["plug:a", "plug:b"], suite=str(suite), modes="zero", output=str(tmp_path / "out"),
                        no_cache=True, judge="plug:judge", judge_modes=["pairwise"], judge_check=0,
                        bootstrap_samples=100)
    result = evaluate(config)
    assert [name for name, _ in BUILT] == ["a", "b", "judge"]
    assert result.scores.judge["verdict"] == "generate"

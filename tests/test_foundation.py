"""Foundation: records, atomic io, config overrides and errors, prompt formats, request cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from seedtune.config import StrictModel, apply_overrides, load_yaml, merge_section, validate
from seedtune.errors import ConfigError, InputError
from seedtune.io import JsonlAppender, atomic_writer, write_json
from seedtune.prompts import AlpacaFormat, ChatTemplateFormat, JinjaFormat, load_format, save_format
from seedtune.prompts.formats import for_model
from seedtune.records import Record
from seedtune.teachers import Request, ScriptedTeacher


# --- records -------------------------------------------------------------------------------------

def test_record_id_is_a_content_hash_that_ignores_provenance():
    a = Record(instruction="Translate to French", input="我喜欢吃苹果。", output="J'aime manger des pommes.")
    b = Record(instruction="Translate to French", input="我喜欢吃苹果。", output="J'aime manger des pommes.",
               source="self-instruct", teacher="t", round=3)
    assert a.id == b.id and len(a.id) == 16
    assert a.with_(output="Je mange des pommes.").id != a.id
    assert a.lang == "zh" and Record(instruction="Name three colours.").lang == "en"


def test_record_rejects_unknown_fields_and_bad_sources():
    with pytest.raises(ValueError):
        Record(instruction="x", bogus=1)
    with pytest.raises(ValueError):
        Record(instruction="x", source="scraped")


def test_record_conversation_and_multi_turn():
    r = Record(instruction="Sum", input="1 2", output="3", system="Be brief.")
    assert [m["role"] for m in r.conversation()] == ["system", "user", "assistant"]
    multi = Record(instruction="", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                                             {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
    assert multi.instruction == "hi"
    assert AlpacaFormat().render(multi)[1] == "4"


def test_record_round_trips_through_dict():
    r = Record(instruction="分类", output="正面", category="sentiment", scores={"judge": 4.0}, parent_ids=["a"])
    assert Record.from_dict(json.loads(json.dumps(r.to_dict()))) == r


# --- io --------------------------------------------------------------------------------------------

def test_atomic_writer_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("original")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_jsonl_appender_survives_sigkill_and_repairs_a_torn_line(tmp_path):
    path = tmp_path / "pool.jsonl"
    script = textwrap.dedent(f"""
        import os, signal
        from seedtune.io import JsonlAppender
        app = JsonlAppender({str(path)!r})
        app.append_batch([{{"i": 0}}, {{"i": 1}}])
        app._handle.write('{{"i": 2, "trunc')  # a write cut short by the kill
        app._handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -signal.SIGKILL
    with JsonlAppender(path) as app:
        assert app.existing() == [{"i": 0}, {"i": 1}]
        app.append_batch([{"i": 2}])
    assert [json.loads(l)["i"] for l in path.read_text().splitlines()] == [0, 1, 2]


# --- config ------------------------------------------------------------------------------------------

class _Train(StrictModel):
    learning_rate: float = 1e-4
    lora_r: int = 16


class _Top(StrictModel):
    name: str = "run"
    train: _Train = _Train()


def test_overrides_are_typed_and_nested(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: demo\ntrain:\n  lora_r: 8\n")
    cfg = validate(_Top, apply_overrides(load_yaml(path), ["train.learning_rate=2e-4", "name=other"]))
    assert cfg.train.learning_rate == 2e-4 and cfg.train.lora_r == 8 and cfg.name == "other"
    section = validate(_Train, merge_section(path, "train", {}, ["train.learning_rate=3e-4"]))
    assert section.learning_rate == 3e-4 and section.lora_r == 8


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"train\.lora_r"):
        validate(_Top, apply_overrides({}, ["train.lora_r=many"]))
    with pytest.raises(ConfigError, match=r"train\.lora_rank.*known keys here: learning_rate, lora_r"):
        validate(_Top, {"train": {"lora_rank": 8}})
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["train.lora_r"])


def test_bad_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: ok\ntrain: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml, line \d"):
        load_yaml(path)


# --- prompt formats --------------------------------------------------------------------------------

def test_alpaca_with_and_without_input():
    with_input, target = AlpacaFormat().render(Record(instruction="Translate to French.", input="我喜欢吃苹果。",
                                                      output="J'aime manger des pommes."))
    assert "### Input:\n我喜欢吃苹果。" in with_input and with_input.endswith("### Response:\n")
    assert target == "J'aime manger des pommes."
    without, _ = AlpacaFormat().render(Record(instruction="Name a colour."))
    assert "### Input" not in without


def test_chat_format_from_tokenizer_renders_like_transformers(tiny_tokenizer):
    fmt = for_model(tiny_tokenizer)
    assert isinstance(fmt, ChatTemplateFormat) and "<|im_end|>" in fmt.stop
    record = Record(instruction="hi", output="hello")
    prompt, target = fmt.render(record)
    expected = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                                  add_generation_prompt=True)
    assert prompt == expected and target == "hello"


def test_formats_save_and_load_with_the_model(tmp_path, tiny_tokenizer):
    for fmt in (AlpacaFormat(), for_model(tiny_tokenizer), JinjaFormat(template="Q: {{ instruction }} {{ input }}\nA:")):
        save_format(fmt, tmp_path)
        loaded = load_format(tmp_path)
        record = Record(instruction="Add", input="2 and 2", output="4")
        assert loaded == fmt and loaded.render(record) == fmt.render(record)
    assert load_format(tmp_path / "nowhere") is None


def test_jinja_templates_are_sandboxed():
    evil = JinjaFormat(template="{{ instruction.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(Exception):
        evil.render(Record(instruction="x"))


# --- teacher + cache ----------------------------------------------------------------------------------

def test_cached_teacher_never_asks_twice(request_cache):
    from seedtune.cache import CachedTeacher

    inner = ScriptedTeacher(default=lambda req: req.messages[-1][1].upper())
    teacher = CachedTeacher(inner, request_cache)
    reqs = [Request.user("a"), Request.user("b"), Request.user("a", temperature=0.0)]
    first = [c.text for c in teacher.generate(reqs)]
    again = teacher.generate(reqs + [Request.user("c")])
    assert first == ["A", "B", "A"]
    assert [c.text for c in again] == ["A", "B", "A", "C"]
    assert [c.cached for c in again] == [True, True, True, False]
    assert len(inner.seen) == 4  # three first-time requests + "c"; the repeats came from the cache


def test_request_key_covers_sampling_parameters():
    base = Request.user("hello")
    assert base.key("m") != Request.user("hello", seed=1).key("m") != Request.user("hello", temperature=0.2).key("m")
    assert base.key("m") != base.key("other-model")
    assert base.key("m") == Request.user("hello").key("m")


def test_merge_section_file_then_flags_then_overrides(tmp_path):
    from seedtune.config import merge_section

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lora_r: 8\n  epochs: 2\n")
    data = merge_section(path, "train", {"lora_r": 4, "epochs": None}, ["train.learning_rate=0.001", "seed=3"])
    assert data == {"lora_r": 4, "epochs": 2, "learning_rate": 1e-3, "seed": 3}
    flat = tmp_path / "flat.yaml"
    flat.write_text("lora_r: 16\n")
    assert merge_section(flat, "train", {}, []) == {"lora_r": 16}  # a file without the section is the section

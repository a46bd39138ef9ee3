"""Magpie: the user-turn prefix from the chat template, filters with reasons, multi-turn, languages,
novelty against seeds, resume from the cache; and on the tiny HF model end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedtune.errors import SeedtuneError
from seedtune.generate.common import TeacherConfig
from seedtune.generate.magpie import MagpieConfig, magpie, user_turn_prefix
from seedtune.prompts.formats import ChatTemplateFormat
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher
from seedtune.testing import CHATML_TEMPLATE

CHATML = ChatTemplateFormat(template=CHATML_TEMPLATE, bos_token="<bos>", eos_token="<eos>")


class ChatScripted(ScriptedTeacher):
    """A scripted teacher that has a chat template, as hf: teachers do."""

    prompt_format = CHATML


def cfg(tmp_path: Path, **kw) -> MagpieConfig:
    return MagpieConfig(teacher=TeacherConfig(cache=str(tmp_path / "c.sqlite")), **kw)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


DISTINCT = ["Explain how rainbows form after a storm", "Suggest three names for a small bakery",
            "Write a short poem about winter mornings", "Why do cats purr when they are happy?",
            "List some ways to save money on groceries", "How does compound interest grow savings?",
            "Give tips for a first job interview", "What causes ocean tides on Earth?"]


def scripted(queries: dict[str, str] | None = None) -> ChatScripted:
    """Raw prompts (user turns) get a request by position; chat requests get an answer naming the request."""
    counter = iter(range(10_000))

    def reply(req):
        if req.prompt is not None:
            n = next(counter)
            return (queries or {}).get(str(n), DISTINCT[n % len(DISTINCT)])
        return f"Here is a clear answer to: {req.messages[-1][1]}"

    return ChatScripted(default=reply)


def test_prefix_is_the_template_up_to_the_user_text():
    assert user_turn_prefix(CHATML, []) == "<|im_start|>user\n"
    history = [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert user_turn_prefix(CHATML, history) == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na<|im_end|>\n"
                                                 "<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\n")
    with_bos = ChatTemplateFormat(template="{{ bos_token }}" + CHATML_TEMPLATE, bos_token="<bos>")
    assert user_turn_prefix(with_bos, []) == "<|im_start|>user\n"  # the tokenizer adds BOS to raw prompts


def test_single_turn_records_filters_and_reasons(tmp_path):
    queries = {"0": "Hi", "1": "Describe a photo of a cat for me please", "2": "Suggest three names for a small bakery"}
    teacher = scripted(queries)
    seeds = [Record(instruction="Suggest three good names for a small bakery", output="x", source="seed")]
    summary = magpie(seeds, tmp_path / "o.jsonl", cfg(tmp_path, target=3, requests_per_round=4, lang="en"),
                     teacher=teacher, progress=False)
    kept = rows(tmp_path / "o.jsonl")
    assert summary["rejected_by_reason"] == {"too_short": 1, "needs_non_text": 1, "too_similar": 1, "target_reached": 2}
    assert len(kept) == 3 and all(r["source"] == "magpie" and r["output"].startswith("Here is") for r in kept)
    raw = [r for r in teacher.seen if r.prompt is not None]
    assert raw[0].prompt.startswith("<|im_start|>user\n") and "<|im_end|>" in raw[0].stop
    assert raw[0].temperature == 1.0 and len({r.seed for r in raw}) == len(raw)


def test_multi_turn_keeps_completed_turns(tmp_path):
    teacher = scripted()
    magpie([], tmp_path / "o.jsonl", cfg(tmp_path, target=2, requests_per_round=2, turns=2, lang="en"),
           teacher=teacher, progress=False)
    kept = rows(tmp_path / "o.jsonl")
    assert [len(r["messages"]) for r in kept] == [4, 4]
    assert [m["role"] for m in kept[0]["messages"]] == ["user", "assistant", "user", "assistant"]
    # The second user turn was written after the first exchange, rendered with the template.
    second = [r.prompt for r in teacher.seen if r.prompt is not None][2]
    assert "<|im_start|>assistant\nHere is a clear answer" in second and second.endswith("<|im_start|>user\n")


def test_chinese_is_steered_and_checked(tmp_path):
    replies = iter(["请解释一下光合作用的过程。", "Explain photosynthesis in detail please"])

    def reply(req):
        if req.prompt is not None:
            return next(replies)
        return "光合作用是植物利用光能把二氧化碳和水转化为有机物的过程。"

    teacher = ChatScripted(default=reply)
    summary = magpie([], tmp_path / "o.jsonl", cfg(tmp_path, target=5, requests_per_round=2, max_rounds=1, lang="zh"),
                     teacher=teacher, progress=False)
    kept = rows(tmp_path / "o.jsonl")
    assert [r["lang"] for r in kept] == ["zh"] and summary["rejected_by_reason"] == {"wrong_lang": 1}
    raw = [r for r in teacher.seen if r.prompt is not None]
    assert "用中文" in raw[0].prompt  # the steering system prompt is rendered into the prefix
    assert "system" not in json.dumps(kept[0]["messages"] if kept[0].get("messages") else kept[0])  # not stored


def test_rerun_resumes_from_cache_without_new_requests(tmp_path):
    config = cfg(tmp_path, target=4, requests_per_round=2, lang="en")
    magpie([], tmp_path / "o.jsonl", config, teacher=scripted(), progress=False)
    first = (tmp_path / "o.jsonl").read_text()
    again = ChatScripted()  # no replies queued: any request would fail
    summary = magpie([], tmp_path / "o.jsonl", config, teacher=again, progress=False)
    assert (tmp_path / "o.jsonl").read_text() == first and summary["resumed_rows"] == 4 and not again.seen


def test_teacher_without_template_needs_user_prefix(tmp_path):
    with pytest.raises(SeedtuneError, match="chat template"):
        magpie([], tmp_path / "o.jsonl", cfg(tmp_path), teacher=ScriptedTeacher(default="x"), progress=False)
    teacher = ScriptedTeacher(default=lambda r: "Name three rivers of Europe please" if r.prompt else "Rhine, Danube, Seine.")
    magpie([], tmp_path / "p.jsonl", cfg(tmp_path, target=1, user_prefix="USER: "), teacher=teacher, progress=False)
    assert rows(tmp_path / "p.jsonl")[0]["output"] == "Rhine, Danube, Seine."


def test_tiny_model_end_to_end(tmp_path, tiny_model_dir):
    from seedtune.teachers.transformers import HFTeacher

    teacher = HFTeacher(str(tiny_model_dir), batch_size=4)
    config = cfg(tmp_path, target=2, requests_per_round=4, max_rounds=1, query_max_tokens=8, max_tokens=16, min_length=1)
    summary = magpie([], tmp_path / "o.jsonl", config, teacher=teacher, progress=False)
    # A random 2-layer model writes noise, so every request is accounted for with a reason.
    assert summary["accepted"] + summary["rejected"] == 4
    assert all(row["meta"]["rejected"] for row in rows(tmp_path / "o.rejected.jsonl"))


def test_pipeline_section_and_cli_config(tmp_path):
    from seedtune.generate.api import build_config
    from seedtune.pipeline.config import load_pipeline

    config = load_pipeline(None, ["generate.magpie.turns=2"], data={
        "name": "m", "generate": {"include_seeds": False, "magpie": {"target": 60, "lang": "en"}},
        "train": {"model": "gemma-3-270m"}})
    assert config.generate.magpie.target == 60 and config.generate.magpie.turns == 2
    yaml_file = tmp_path / "g.yaml"
    yaml_file.write_text("generate:\n  magpie:\n    target: 7\n    teacher: {batch_size: 16}\n", encoding="utf-8")
    built = build_config("magpie", {"turns": 3}, {"dtype": "bfloat16"}, yaml_file, ["max_tokens=200"])
    assert (built.target, built.turns, built.max_tokens, built.teacher.batch_size, built.teacher.dtype) == (
        7, 3, 200, 16, "bfloat16")


def test_answer_system_prompt_is_used_for_answers_only(tmp_path):
    teacher = scripted()
    magpie([], tmp_path / "o.jsonl", cfg(tmp_path, target=1, requests_per_round=1, lang="en", answer_system="Be brief."),
           teacher=teacher, progress=False)
    query, answer = teacher.seen
    assert "Be brief." not in query.prompt and answer.messages[0] == ("system", "Be brief.")
    assert "Be brief." not in (tmp_path / "o.jsonl").read_text()

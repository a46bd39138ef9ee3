"""Prompts per mode: demonstrations (never the instance itself), chat turns vs plain blocks, CoT."""

from __future__ import annotations

import numpy as np
import pytest

from seedtune.errors import ConfigError
from seedtune.evaluate.prompting import COT_TRIGGER, DemoSelector, Mode, build_prompt, parse_modes
from seedtune.evaluate.suites import Instance, Suite, Task
from seedtune.prompts import AlpacaFormat, ChatTemplateFormat
from seedtune.testing import CHATML_TEMPLATE


def _suite() -> Suite:
    add = Task("add", "Add the numbers.", [Instance(f"add/{i}", f"{i} {i + 1}", [str(2 * i + 1)]) for i in range(6)],
               category="math")
    sent = Task("sent", "判断评论的情感。", [Instance("sent/0", "很好看", ["正面"]), Instance("sent/1", "太差了", ["负面"])],
                category="sentiment", lang="zh", metric="accuracy", labels=["正面", "负面"])
    cap = Task("cap", "Name the capital.", [Instance("cap/0", "France", ["Paris"])], category="sentiment")
    return Suite("t", [add, sent, cap])


def test_parse_modes():
    assert [m.name for m in parse_modes("zero,few:3,cot")] == ["zero", "few:3", "cot"]
    assert parse_modes("few")[0].k == 3 and parse_modes(["cot"])[0].cot
    with pytest.raises(ConfigError, match="unknown mode"):
        parse_modes("zero,five")
    with pytest.raises(ConfigError):
        Mode.parse("few:0")


@pytest.mark.parametrize("strategy", ["random", "first", "nearest"])
def test_demos_never_include_the_instance(strategy):
    suite = _suite()
    selector = DemoSelector(suite, strategy, seed=0, encoder=lambda texts: np.array([[len(t), 1.0] for t in texts]))
    for task in suite.tasks:
        for inst in task.instances:
            demos = selector.select(task, inst, 3)
            assert len(demos) == 3 and all(d.id != inst.id for _, d in demos)
            assert len({d.id for _, d in demos}) == 3


def test_random_is_seeded_and_order_independent_and_topped_up_from_same_category():
    suite = _suite()
    add = suite.tasks[0]
    a = DemoSelector(suite, "random", seed=0).select(add, add.instances[2], 3)
    assert a == DemoSelector(suite, "random", seed=0).select(add, add.instances[2], 3)
    assert any(a != DemoSelector(suite, "random", seed=s).select(add, add.instances[2], 3) for s in range(1, 6))
    assert DemoSelector(suite, "first").select(add, add.instances[0], 2)[0][1].id == "add/1"
    sent = suite.tasks[1]
    demos = DemoSelector(suite, "first").select(sent, sent.instances[0], 2)
    assert [d.id for _, d in demos] == ["sent/1", "cap/0"]  # own task first, then the same category


def test_nearest_uses_the_encoder_and_puts_the_closest_last():
    suite = _suite()
    add = suite.tasks[0]
    # 1-d "embeddings" on a circle by instance number: the nearest to add/0 are add/1 then add/2.
    def enc(texts):
        out = []
        for t in texts:
            n = int(t.split()[-2]) if t.startswith("Add") else 40
            out.append([np.cos(n / 10), np.sin(n / 10)])
        return np.array(out)
    demos = DemoSelector(suite, "nearest", encoder=enc).select(add, add.instances[0], 2)
    assert [d.id for _, d in demos] == ["add/2", "add/1"]
    with pytest.raises(ConfigError, match="encoder"):
        DemoSelector(suite, "nearest").select(add, add.instances[0], 2)


def test_chat_format_puts_demos_in_earlier_turns():
    suite = _suite()
    add = suite.tasks[0]
    fmt = ChatTemplateFormat(template=CHATML_TEMPLATE)
    demos = DemoSelector(suite, "first").select(add, add.instances[0], 2)
    prompt = build_prompt(fmt, add, add.instances[0], demos, Mode("few:2", k=2))
    assert [r for r, _ in prompt.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert prompt.messages[1][1] == "3" and prompt.text.count("<|im_start|>assistant") == 3
    assert prompt.text.endswith("<|im_start|>assistant\n") and prompt.demo_ids == ("add/1", "add/2")


def test_plain_format_renders_full_blocks_before_the_query():
    suite = _suite()
    add = suite.tasks[0]
    demos = DemoSelector(suite, "first").select(add, add.instances[0], 2)
    prompt = build_prompt(AlpacaFormat(), add, add.instances[0], demos, Mode("few:2", k=2))
    assert prompt.text.count("### Response:") == 3 and prompt.text.count("### Input:") == 3
    assert "### Response:\n3\n\n" in prompt.text and prompt.text.endswith("### Input:\n0 1\n\n### Response:\n")


def test_cot_trigger_in_english_and_chinese():
    suite = _suite()
    add, sent = suite.tasks[0], suite.tasks[1]
    plain = build_prompt(AlpacaFormat(), add, add.instances[0], [], Mode("cot", cot=True))
    assert plain.text.endswith("### Response:\n" + COT_TRIGGER["en"])
    chat = build_prompt(None, sent, sent.instances[0], [], Mode("cot", cot=True))
    assert chat.text is None and chat.messages[-1][1].endswith("让我们一步一步地思考。")
    assert build_prompt(None, add, add.instances[0], [], Mode("zero")).messages == (("user", "Add the numbers.\n\n0 1"),)

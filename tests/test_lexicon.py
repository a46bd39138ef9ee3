"""The shared heuristics: generation and curation judge the same words the same way."""

from __future__ import annotations

import pytest

from seedtune.curate import CurateConfig, build_filter
from seedtune.generate.self_instruct import heuristic_reason
from seedtune.lexicon import join_instruction, normalise, squash
from seedtune.records import Record


@pytest.mark.parametrize("text", [
    "Describe the image below in detail.", "Draw a flowchart of the process.", "Record yourself singing.",
    "Listen to the music and name the composer.", "Summarize the attached files.", "请根据图表回答问题。",
    "Explain the mapping between keys and values.", "Write a haiku about autumn.", "描述一下春天。",
])
def test_generation_and_curation_agree_on_non_text_tasks(text):
    generated = heuristic_reason(text) == "needs_non_text"
    curated = bool(build_filter("keywords", CurateConfig())([Record(instruction=text, output="x")]).dropped)
    assert generated == curated


def test_text_helpers():
    assert join_instruction("Do it.", "") == "Do it." and join_instruction("Do it.", "x") == "Do it.\n\nx"
    assert normalise("  Hello,   World! ") == "hello world" and squash("Positive.") == "positive"

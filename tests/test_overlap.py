"""The one contamination rule (`seedtune.overlap`), and curation and evaluation agreeing on it."""

from __future__ import annotations

import pytest

from seedtune.curate.decontam import Decontaminate
from seedtune.evaluate import contamination
from seedtune.evaluate.suites import Instance, Suite, Task
from seedtune.overlap import OverlapRule, SuiteIndex, SuiteItem, joined
from seedtune.records import Record

SUITE_TASK = ("Translate the sentence into French.", "我喜欢吃苹果。", "J'aime manger des pommes.")
LONG_TASK = ("Summarize the article in one sentence.",
             "The city council voted on Tuesday to build a new public library next to the old train station downtown.",
             "The council approved a new library.")

# (training record, suite task, overlaps?) — each case is one pair, judged by both stages.
PAIRS = [
    (Record(instruction="Rewrite this.", input="Yesterday the city council voted on Tuesday to build a new public "
                                               "library next to the old train station"), LONG_TASK, True),
    (Record(instruction="Please translate this sentence into French.", output="x"), SUITE_TASK, True),  # ROUGE-L 0.8
    # the whole instance copied: no field has 13 tokens, instruction + input + output has.
    (Record(instruction="Put this into French.", input="我喜欢吃苹果。", output="J'aime manger des pommes."),
     SUITE_TASK, True),
    (Record(instruction="Write a haiku about autumn leaves.", output="Red leaves fall."), SUITE_TASK, False),
    (Record(instruction="Write a haiku about autumn leaves.", output="Red leaves fall."), LONG_TASK, False),
    # a long instruction with a similar wording but no shared 13-gram is left to the n-gram test
    (Record(instruction="Summarize the following long article from a newspaper in exactly one short sentence "
                        "for a reader who has very little time and wants the gist of it"), LONG_TASK, False),
]


def _suite(task: tuple[str, str, str]) -> tuple[list[Record], Suite]:
    instruction, input, output = task
    record = Record(instruction=instruction, input=input, output=output, task="t")
    return [record], Suite("s", [Task(id="t", instruction=instruction, instances=[Instance("t-0", input, [output])])])


@pytest.mark.parametrize("record,task,overlaps", PAIRS)
def test_curation_and_evaluation_agree_on_each_pair(record, task, overlaps):
    records, suite = _suite(task)
    dropped = Decontaminate(records)([record]).dropped
    flagged = contamination.check(suite, contamination.TrainingData(
        [record.instruction], [joined(record.instruction, record.input, record.output)]))
    assert bool(dropped) == bool(flagged) == overlaps
    if overlaps:  # and they give the same kind of evidence
        assert flagged["t"].reason.replace("-gram", "") in dropped[0].reason.lower().replace("-gram", "")


def test_rouge_tie_counts_and_short_tokens_limits_it():
    index = SuiteIndex([SuiteItem("a", "one two three four five", "one two three four five")],
                       OverlapRule(ngram=13, rouge_threshold=0.8, short_tokens=5))
    # F = 0.8 exactly: 4 of 5 tokens in common on both sides
    hit = index.check("one two three four six", "one two three four six")
    assert hit is not None and hit.kind == "rouge-l" and hit.score == pytest.approx(0.8)
    assert index.check("one two three four six seven", "x") is None  # 6 tokens > short_tokens


def test_ngram_evidence_and_every_matching_item():
    text = " ".join(f"w{i}" for i in range(20))
    index = SuiteIndex([SuiteItem("a", "A", text), SuiteItem("b", "B", text)], OverlapRule(ngram=13))
    hits = index.matches("other", text)
    assert [h.key for h in hits] == ["a", "b"] and hits[0].evidence == " ".join(f"w{i}" for i in range(13))
    assert joined("i", "", ["r1", "r2"]) == "i\nr1\nr2"

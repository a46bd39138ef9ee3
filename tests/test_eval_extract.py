"""Answer extraction: final-answer phrases (EN + ZH), numbers, option letters, labels, failures."""

from __future__ import annotations

import pytest

from seedtune.evaluate.extract import answer_kind, clean_output, extract_answer


@pytest.mark.parametrize("text, kind, labels, expected, method", [
    ("Two plus two is four. The answer is 4.", "number", [], "4", "last-number"),
    ("We have 3 apples and eat 1, leaving 2.", "number", [], "2", "last-number"),
    ("Total = 1,200 dollars so the final answer is 1,200.", "number", [], "1200", "last-number"),
    ("First (A) looks right, but no. The answer is (C).", "letter", ["A", "B", "C"], "C", "option-letter"),
    ("The review praises the film. So the answer is positive.", "label", ["positive", "negative"], "positive", "label"),
    ("It mentions a prize and a link; this is not spam... wait, it is spam", "label", ["spam", "not spam"], "spam", "label"),
    ("The message is from a friend, so not spam.", "label", ["spam", "not spam"], "not spam", "label"),
    ("让我们一步一步地思考。这条评论很满意。答案是：正面。", "label", ["正面", "负面"], "正面", "label"),
    ("小明有3个苹果，又买了2个，所以答案是5。", "number", [], "5", "last-number"),
    ("The capital is a big city. The answer is Paris. Anything else?", "text", [], "Paris", "final-phrase"),
    ("Answer: Mount Everest", "text", [], "Mount Everest", "final-phrase"),
])
def test_cot_extraction(text, kind, labels, expected, method):
    ex = extract_answer(text, kind=kind, labels=labels, cot=True)
    assert (ex.answer, ex.method, ex.ok) == (expected, method, True)


@pytest.mark.parametrize("text, kind", [("I am not sure about this one.", "text"), ("no digits here", "number"),
                                        ("Hmm, hard to say.", "label")])
def test_cot_failures_are_reported(text, kind):
    ex = extract_answer(text, kind=kind, labels=["positive", "negative"], cot=True)
    assert ex.ok is False and ex.method == "failed" and ex.answer == text


def test_direct_answers():
    assert extract_answer("  Paris is the capital.  ", kind="text").answer == "Paris is the capital."
    assert extract_answer("Positive!", kind="label", labels=["positive", "negative"]).answer == "positive"
    assert extract_answer("2+2 = 4", kind="number").answer == "4"
    assert extract_answer("B", kind="letter", labels=["A", "B"]).answer == "B"
    assert not extract_answer("who knows", kind="label", labels=["positive", "negative"]).ok


def test_answer_kind_and_cleaning():
    assert answer_kind(["A"], ["A", "B", "C"]) == "letter"
    assert answer_kind(["spam"], ["spam", "not spam"]) == "label"
    assert answer_kind(["42", "-3.5"], []) == "number"
    assert answer_kind(["Paris"], []) == "text"
    assert clean_output(" Paris<|im_end|>junk", ["<|im_end|>"]) == "Paris"
    assert clean_output("Paris\n\n### Instruction:\nmore", ["### Instruction:"]) == "Paris"

"""The judge: rating parsing, both-order pairwise verdicts (a flip is a tie), bias statistics."""

from __future__ import annotations

import pytest

from seedtune.evaluate.judge import Judge, PairItem, SingleItem, parse_rating, parse_verdict, summarize_pairs, template
from seedtune.teachers import ScriptedTeacher


def test_parsers():
    assert parse_rating("Good answer.\nRating: [[8]]") == 8.0
    assert parse_rating("评分：[[3]]") == 3.0 and parse_rating("评分：6") == 6.0
    assert parse_rating("Rating: [[11]]") is None and parse_rating("no score") is None
    assert parse_verdict("A is wordier. [[B]]") == "B" and parse_verdict("[[C]]") == "tie"
    assert parse_verdict("maybe A") is None


def test_templates_exist_in_both_languages():
    for name in ("single", "pair"):
        assert "{{ question }}" in template(name, "en") and "{{ question }}" in template(name, "zh")
    assert "[[A]]" in template("pair", "zh") and "评分" in template("single", "zh")


def _oracle(prefer: str):
    """A judge that always prefers the answer containing `prefer`, wherever it is shown."""
    def reply(request):
        text = request.messages[-1][1]
        a = text.split("[Answer A]")[1].split("[Answer B]")[0]
        return "[[A]]" if prefer in a else "[[B]]"
    return reply


def test_consistent_preference_wins_in_both_orders():
    judge = Judge(ScriptedTeacher(default=_oracle("good")))
    items = [PairItem("q", "bad answer", "good answer"), PairItem("q", "good answer", "bad answer")]
    verdicts = judge.compare(items)
    assert [v.final for v in verdicts] == ["B", "A"] and all(v.consistent for v in verdicts)
    assert len(judge.teacher.seen) == 4  # every pair asked twice, in one batch
    # The second request of a pair shows the answers swapped.
    assert "good answer" in judge.teacher.seen[1].messages[-1][1].split("[Answer A]")[1].split("[Answer B]")[0]


def test_position_bias_flip_counts_as_tie():
    judge = Judge(ScriptedTeacher(default="First one is better. [[A]]"))
    items = [PairItem("q", "x", "y"), PairItem("q", "y", "x y z")]
    verdicts = judge.compare(items)
    assert [v.final for v in verdicts] == ["tie", "tie"]
    assert [(v.first, v.second) for v in verdicts] == [("A", "B"), ("A", "B")]
    summary = summarize_pairs(items, verdicts)
    assert summary["swap_consistency"] == 0.0 and summary["first_position_win_rate"] == 1.0
    assert (summary["wins"], summary["ties"], summary["losses"]) == (0, 2, 0)


def test_length_bias_is_measured():
    def longer(request):
        text = request.messages[-1][1]
        a = text.split("[Answer A]")[1].split("[Answer B]")[0]
        b = text.split("[Answer B]")[1].split("First explain")[0]
        return "[[A]]" if len(a) > len(b) else "[[B]]"
    items = [PairItem("q", "short", "a much longer answer here"), PairItem("q", "a very long answer indeed", "tiny"),
             PairItem("q", "one two three four", "one")]
    verdicts = Judge(ScriptedTeacher(default=longer)).compare(items)
    summary = summarize_pairs(items, verdicts)
    assert summary["length_correlation"] == pytest.approx(1.0, abs=0.05)
    assert summary["swap_consistency"] == 1.0 and (summary["wins"], summary["losses"]) == (1, 2)


def test_single_scores_and_chinese_template():
    teacher = ScriptedTeacher(["Rating: [[9]]", "评分：[[4]]", "unparseable"])
    scores = Judge(teacher).score([SingleItem("q", "a", "ref"), SingleItem("问题", "回答", "", "zh"), SingleItem("q", "a")])
    assert scores == [9.0, 4.0, None]
    assert "【用户的请求】" in teacher.seen[1].messages[-1][1] and "参考答案" not in teacher.seen[1].messages[-1][1]
    assert teacher.seen[0].temperature == 0.0

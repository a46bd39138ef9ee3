"""The judge: rating parsing, both-order pairwise verdicts (a flip is a tie), bias statistics,
verdicts read from probabilities, and the check of the judge on pairs with a known answer."""

from __future__ import annotations

import math

import pytest

from seedtune.evaluate.judge import (Judge, KnownPair, PairItem, SingleItem, check_judge, choice_probs, known_pairs,
                                     parse_rating, parse_verdict, resolve_verdict, summarize_pairs, template)
from seedtune.teachers import ScriptedTeacher


def test_parsers():
    assert parse_rating("Good answer.\nRating: [[8]]") == 8.0
    assert parse_rating("评分：[[3]]") == 3.0 and parse_rating("评分：6") == 6.0
    assert parse_rating("Rating: [[11]]") is None and parse_rating("no score") is None
    assert parse_verdict("A is wordier. [[B]]") == "B" and parse_verdict("[[C]]") == "tie"
    assert parse_verdict("maybe A") is None


def test_templates_exist_in_both_languages():
    for name in ("single", "pair", "single_choice", "pair_choice"):
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


# -- verdicts read from probabilities -------------------------------------------------------------


def _shown_first(request) -> str:
    text = request.messages[-1][1]
    if "【回答 A】" in text:
        return text.split("【回答 A】")[1].split("【回答 B】")[0]
    return text.split("[Answer A]")[1].split("[Answer B]")[0]


def _prob_oracle(prefer: str, confidence: float = 0.8):
    """Puts `confidence` on the letter of the answer containing `prefer`; the rest on other letters."""
    def reply(request):
        assert request.max_tokens == 1 and request.top_logprobs > 0 and request.temperature == 0.0
        good = "A" if prefer in _shown_first(request) else "B"
        bad = "B" if good == "A" else "A"
        return {" " + good: confidence, bad: (1 - confidence) / 2, "C": (1 - confidence) / 4, "The": (1 - confidence) / 4}
    return reply


def test_choice_probs_match_tokens_loosely_and_report_mass():
    probs, mass = choice_probs({" A": math.log(0.5), "[B": math.log(0.2), "A.": math.log(0.1), "x": math.log(0.2)}, "ABC")
    assert probs == pytest.approx({"A": 0.75, "B": 0.25, "C": 0.0}) and mass == pytest.approx(0.8)
    assert choice_probs({"The": -0.1}, "ABC") is None


def test_logprob_verdicts_use_the_pair_choice_template_and_both_orders():
    teacher = ScriptedTeacher(default=_prob_oracle("good"))
    judge = Judge(teacher, verdict="logprobs")
    items = [PairItem("q", "bad answer", "good answer"), PairItem("q", "good answer", "bad answer")]
    verdicts = judge.compare(items)
    assert [v.final for v in verdicts] == ["B", "A"] and all(v.consistent for v in verdicts)
    assert verdicts[0].first_probs["B"] == pytest.approx(0.8 / 0.95) and verdicts[0].mass == pytest.approx(0.95)
    assert "one letter" in teacher.seen[0].messages[-1][1] and "[[A]]" not in teacher.seen[0].messages[-1][1]
    summary = summarize_pairs(items, verdicts)
    assert summary["choice_mass"] == pytest.approx(0.95) and summary["unparsed"] == 0


def test_logprob_position_bias_is_still_a_tie_and_no_letter_is_unparsed():
    biased = Judge(ScriptedTeacher(default={"A": 0.6, "B": 0.3, "C": 0.1}), verdict="logprobs")
    verdicts = biased.compare([PairItem("q", "x", "y")])
    assert (verdicts[0].first, verdicts[0].second, verdicts[0].final) == ("A", "B", "tie")
    mute = Judge(ScriptedTeacher(default={"Sure": 0.9, "I": 0.1}), verdict="logprobs")
    (v,) = mute.compare([PairItem("q", "x", "y")])
    assert v.first is None and v.final == "tie" and v.mass is None
    assert summarize_pairs([PairItem("q", "x", "y")], [v])["unparsed"] == 1


def test_logprob_single_rating_is_the_expected_digit_on_the_1_to_10_scale():
    teacher = ScriptedTeacher([{"5": 1.0}, {"1": 0.5, "3": 0.5}, {"Great": 1.0}])
    ratings = Judge(teacher, verdict="logprobs").score([SingleItem("q", "a")] * 3)
    assert ratings[0] == pytest.approx(10.0) and ratings[1] == pytest.approx(1 + (2 - 1) * 9 / 4) and ratings[2] is None
    assert "one digit" in teacher.seen[0].messages[-1][1]


def test_auto_verdict_reads_probabilities_only_where_they_are_available():
    assert resolve_verdict("auto", "hf:smollm2-135m-instruct") == "logprobs"
    assert resolve_verdict("auto", "vllm:Qwen") == "logprobs"
    assert resolve_verdict("auto", "openai:gpt-4o") == "generate"
    assert resolve_verdict("generate", "hf:x") == "generate"


# -- checking the judge ---------------------------------------------------------------------------


def _instances():
    return [
        {"question": "Translate to French: cat", "input": "cat", "reference": "chat", "lang": "en", "task": "fr"},
        {"question": "Capital of France?", "input": "", "reference": "Paris", "lang": "en", "task": "qa"},
        {"question": "2+2?", "input": "", "reference": "4", "lang": "en", "task": "math"},
        {"question": "Fix: teh", "input": "teh", "reference": "teh", "lang": "en", "task": "typo"},  # echo == reference
        {"question": "翻译：你好", "input": "你好", "reference": "hello", "lang": "zh", "task": "zh-en"},
        {"question": "No reference", "input": "x", "reference": "", "lang": "en", "task": "open"},
    ]


def test_known_pairs_pair_the_reference_with_an_echo_or_another_tasks_answer():
    pairs = known_pairs(_instances(), n=10, seed=1)
    by_q = {p.question: p for p in pairs}
    assert "No reference" not in by_q and "翻译：你好" in by_q  # a lone Chinese task: its input echo still works
    assert by_q["Translate to French: cat"] == KnownPair("Translate to French: cat", "chat", "cat", "en", "echo")
    typo = by_q["Fix: teh"]  # the echo would be right, so another task's answer is the wrong one
    assert typo.kind == "other-task" and typo.wrong in {"Paris", "4", "chat"}
    assert by_q["Capital of France?"].wrong in {"4", "chat", "teh"}
    assert known_pairs(_instances(), n=2, seed=1) == pairs[:2]  # deterministic, capped


def test_check_judge_tells_a_judge_that_knows_from_one_that_guesses():
    pairs = known_pairs(_instances(), n=10)
    right = {p.question: p.right for p in pairs}

    def knows(request):
        text = request.messages[-1][1]
        answer = next(a for q, a in right.items() if q in text)
        return {"A": 0.9, "B": 0.1} if _shown_first(request).strip() == answer else {"B": 0.9, "A": 0.1}

    teacher = ScriptedTeacher(default=knows)
    good = check_judge(Judge(teacher, verdict="logprobs"), pairs)
    assert good["accuracy"] == 1.0 and good["reliable"] and good["right"] == len(pairs) and good["swap_consistency"] == 1.0
    assert all("Reference answer" not in r.messages[-1][1] and "参考答案" not in r.messages[-1][1] for r in teacher.seen)  # it would give the answer away
    assert sum(k["n"] for k in good["by_kind"].values()) == len(pairs)
    guesser = check_judge(Judge(ScriptedTeacher(default={"A": 0.7, "B": 0.3}), verdict="logprobs"), pairs)
    assert guesser["accuracy"] == 0.5 and guesser["ties"] == len(pairs) and not guesser["reliable"]

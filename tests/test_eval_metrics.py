"""Metrics: ROUGE-L equals rouge-score on English and reads Chinese; EM, BLEU, chrF."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from seedtune.evaluate import rouge_l
from seedtune.evaluate.metrics import bleu, chrf, exact_match, metrics_for, normalize_answer, score

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
WORDS = st.sampled_from("the a cat dog sat on mat quick brown fox jumps over lazy 42 7 apples".split())
ENGLISH = st.lists(WORDS, min_size=0, max_size=25).map(" ".join)
PUNCT = st.sampled_from([" ", ", ", ". ", "! ", " - ", "'s "])
MESSY = st.lists(st.tuples(WORDS, PUNCT), max_size=20).map(lambda xs: "".join(w.upper() if i % 3 == 0 else w + p for i, (w, p) in enumerate(xs)))


@settings(max_examples=300, deadline=None)
@given(ENGLISH, ENGLISH)
def test_rouge_l_equals_rouge_score_on_english(pred, ref):
    assert rouge_l(pred, ref) == pytest.approx(_SCORER.score(ref, pred)["rougeL"].fmeasure, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(MESSY, MESSY)
def test_rouge_l_equals_rouge_score_with_case_and_punctuation(pred, ref):
    assert rouge_l(pred, ref) == pytest.approx(_SCORER.score(ref, pred)["rougeL"].fmeasure, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="我喜欢吃苹果今天很冷北京是中国的首都。，", min_size=1, max_size=30))
def test_identical_chinese_scores_one(text):
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        assert rouge_l(text, text) == 1.0


def test_chinese_is_scored_where_rouge_score_gives_zero():
    pred, ref = "我喜欢吃苹果。", "我喜欢吃香蕉。"
    assert _SCORER.score(ref, pred)["rougeL"].fmeasure == 0.0  # the bug we fix
    assert rouge_l(pred, ref) == pytest.approx(2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6))
    assert rouge_l("", ref) == 0.0 and 0.0 <= rouge_l("apples 我", ref) <= 1.0


def test_exact_match_squad_normalisation():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert exact_match("The answer: Paris.", "answer paris") == 1.0
    assert exact_match("An apple", "apple") == 1.0
    assert exact_match("Paris", "London") == 0.0
    # Chinese: punctuation (full-width too) and spaces go, nothing else changes.
    assert exact_match("北京 。", "北京") == 1.0
    assert exact_match("北京是首都！", "北京是首都") == 1.0
    assert exact_match("北京", "南京") == 0.0


def test_bleu_and_chrf_read_chinese():
    assert bleu("我喜欢吃苹果。", "我喜欢吃苹果。") == pytest.approx(1.0)
    assert bleu("我喜欢吃苹果。", "我喜欢吃香蕉。") > 0.0  # the 13a tokenizer would give 0 here
    assert bleu("J'aime manger des pommes.", "J'aime manger des pommes.") == pytest.approx(1.0)
    assert 0 < chrf("J'aime les pommes.", "J'aime manger des pommes.") < 1
    assert chrf("abc", "abc") == pytest.approx(1.0)


def test_score_takes_best_reference_and_picks_metrics():
    assert metrics_for("bleu", False) == ["rouge_l", "exact_match", "bleu", "chrf"]
    assert "accuracy" in metrics_for("accuracy", True)
    values = score("positive", ["negative", "positive"], ["exact_match", "accuracy", "rouge_l"])
    assert values == {"exact_match": 1.0, "accuracy": 1.0, "rouge_l": 1.0}


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x2FFF, blacklist_categories=("Cs",)), max_size=60),
       st.text(st.characters(max_codepoint=0x2FFF, blacklist_categories=("Cs",)), max_size=60))
def test_rouge_l_equals_rouge_score_on_any_non_cjk_text(pred, ref):
    """Accents, symbols, other scripts: both drop what is not [a-z0-9] after lowercasing."""
    assert rouge_l(pred, ref) == pytest.approx(_SCORER.score(ref, pred)["rougeL"].fmeasure, abs=1e-12)


def test_one_metric_list_names_every_scorer_and_suites_accept_them_all():
    from seedtune.data import METRICS, metric_name
    from seedtune.evaluate import metrics as scorers

    assert set(scorers._SCORERS) | {"accuracy", "judge"} == set(METRICS)
    assert metric_name("ROUGE-L") == "rouge_l" and metric_name("chrF") == "chrf" and metric_name("nope") is None

"""ROUGE-L exactness against `rouge-score` and NoveltyIndex decisions against brute force."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedtune.textsim import NoveltyIndex, rouge_l, rouge_l_tokens, tokenize

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

# Small vocabularies make overlaps (and ties at the threshold) frequent, which is where bugs hide.
WORDS = ["the", "a", "cat", "dog", "Write", "poem", "story", "about", "of", "to", "list", "3", "x1"]
SEPS = [" ", "  ", ", ", ". ", "! ", "-", "\n", " (", ") ", "'s ", " é "]
ZH_CHARS = list("写一首关于春天的诗请解释为什么天空是蓝色列出三个")


@st.composite
def english(draw) -> str:
    n = draw(st.integers(0, 14))
    parts = []
    for _ in range(n):
        parts.append(draw(st.sampled_from(WORDS)))
        parts.append(draw(st.sampled_from(SEPS)))
    return "".join(parts)


@st.composite
def chinese(draw) -> str:
    return "".join(draw(st.lists(st.sampled_from(ZH_CHARS), min_size=0, max_size=16)))


@settings(max_examples=300, deadline=None)
@given(english(), english())
def test_rouge_l_equals_rouge_score_on_english(a: str, b: str) -> None:
    expected = _SCORER.score(a, b)["rougeL"].fmeasure
    assert rouge_l(b, a) == expected  # bit-identical, not approximately equal
    assert rouge_l(a, b) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_tokenizer_matches_rouge_score_on_non_cjk_text(text: str) -> None:
    from rouge_score import tokenize as rs_tokenize

    if any("\u3040" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff" for ch in text.lower()):
        return
    assert tokenize(text) == rs_tokenize.tokenize(text, None)


def test_chinese_identical_is_one_and_near_is_between() -> None:
    a = "请写一首关于春天的诗。"
    assert rouge_l(a, a) == 1.0
    assert _SCORER.score(a, a)["rougeL"].fmeasure == 0.0  # why we do not use rouge-score's tokenizer
    near = rouge_l(a, "请写一首关于秋天的诗！")
    assert 0.0 < near < 1.0
    assert rouge_l(a, "为何海水是蓝色") == 0.0


def test_rouge_l_tokens_empty_sides() -> None:
    assert rouge_l_tokens([], ["a"]) == 0.0
    assert rouge_l("", "") == 0.0


def _brute_force(texts: list[str], threshold: float) -> list[tuple[bool, float]]:
    kept: list[list[str]] = []
    out = []
    for text in texts:
        toks = tokenize(text)
        best = max((rouge_scorer._score_lcs(k, toks).fmeasure for k in kept), default=0.0)
        ok = best <= threshold
        out.append((ok, best))
        if ok:
            kept.append(toks)
    return out


@st.composite
def streams(draw, text=english()):
    """A stream with near-duplicates: later items are often small edits of earlier ones."""
    items: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        if items and draw(st.booleans()):
            base = draw(st.sampled_from(items))
            tail = draw(text)
            items.append(base + draw(st.sampled_from(["", " ", " the"])) + tail[: draw(st.integers(0, 6))])
        else:
            items.append(draw(text))
    return items


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.7, 0.9, 1.0]))
def test_novelty_index_equals_brute_force_english(texts: list[str], threshold: float) -> None:
    _check_stream(texts, threshold)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(text=st.one_of(chinese(), english())), st.sampled_from([0.3, 0.5, 0.7]))
def test_novelty_index_equals_brute_force_mixed_chinese(texts: list[str], threshold: float) -> None:
    _check_stream(texts, threshold)


def _check_stream(texts: list[str], threshold: float) -> None:
    index = NoveltyIndex(threshold)
    for text, (ok, best) in zip(texts, _brute_force(texts, threshold)):
        kept, score, nearest = index.check_and_add(text)
        assert kept == ok, (text, threshold, score, best)
        if not kept:
            assert score == best and nearest is not None
        assert score <= best
    assert len(index) == sum(ok for ok, _ in _brute_force(texts, threshold))


def test_novelty_index_across_rebuilds_and_prime() -> None:
    """Past the first re-indexing (64 texts) and with a primed order, decisions still match."""
    import random

    rng = random.Random(3)
    vocab = "write explain list the a of poem story email cat dog tree river summer code".split()
    texts = []
    for _ in range(400):
        if texts and rng.random() < 0.3:
            words = rng.choice(texts).split()
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 12))))
    expected = [ok for ok, _ in _brute_force(texts, 0.7)]
    plain = NoveltyIndex(0.7)
    primed = NoveltyIndex(0.7)
    primed.prime(texts)
    assert [plain.check_and_add(t)[0] for t in texts] == expected
    assert [primed.check_and_add(t)[0] for t in texts] == expected
    assert plain.pairs_scored < 400 * 399 / 2  # pruning actually prunes


def test_add_is_unconditional_and_check_does_not_add() -> None:
    index = NoveltyIndex(0.7)
    index.add("write a poem about the sea")
    index.add("write a poem about the sea")
    assert len(index) == 2
    kept, score, nearest = index.check("Write a poem about the sea!")
    assert (kept, score, nearest) == (False, 1.0, 0)
    assert len(index) == 2
    assert index.check_and_add("explain gravity to a child")[0]
    assert len(index) == 3 and index.texts[-1] == "explain gravity to a child"


def test_threshold_is_validated() -> None:
    with pytest.raises(ValueError):
        NoveltyIndex(1.5)

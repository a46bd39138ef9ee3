"""Text similarity primitives shared by generate (novelty), curate (dedup) and evaluate (metrics).

Tokenisation follows the `rouge-score` package on Latin text (lowercase, `[a-z0-9]+` runs,
everything else a separator) so our ROUGE-L F-measure equals theirs on English. Unlike
`rouge-score`, which deletes every CJK character and scores identical Chinese strings 0, each CJK
character (Han, kana, hangul) is its own token here, the usual practice for Chinese ROUGE.
The LCS is computed in C by rapidfuzz.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz.distance import LCSseq

# CJK Unified Ideographs (+ext A, compatibility), kana, hangul, CJK symbols are single-char tokens.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[a-z0-9]+|[{_CJK}]")
_CJK_RE = re.compile(rf"[{_CJK}]")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z]+")


def tokenize(text: str) -> list[str]:
    """Tokens for ROUGE and n-gram overlap: `rouge-score`-compatible on Latin, characters on CJK.

    >>> tokenize("The cat sat.")
    ['the', 'cat', 'sat']
    >>> tokenize("我喜欢 apples!")
    ['我', '喜', '欢', 'apples']
    """
    return _TOKEN_RE.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if not a or not b:
        return 0
    return int(LCSseq.similarity(a, b))


def rouge_l_tokens(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F-measure (beta = 1) on token lists; 0.0 when either side is empty."""
    lcs = lcs_length(prediction, reference)
    if lcs == 0:
        return 0.0
    precision = lcs / len(prediction)
    recall = lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure in [0, 1]; equals `rouge-score` on English, character-based on CJK."""
    return rouge_l_tokens(tokenize(prediction), tokenize(reference))


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among letters (CJK + Latin letters)."""
    cjk = len(_CJK_RE.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD_RE.findall(text))
    total = cjk + latin
    return cjk / total if total else 0.0


def detect_lang(text: str) -> str:
    """A cheap language guess good enough for routing and reports: 'zh', 'ja', 'ko' or 'en'.

    A Chinese character weighs as much as a few Latin letters, so a mostly-Chinese text with an
    English name in it still reads as Chinese.
    """
    han = len(_HAN_RE.findall(text))
    kana = len(re.findall(r"[\u3040-\u30ff]", text))
    hangul = len(re.findall(r"[\uac00-\ud7af]", text))
    latin = sum(len(w) for w in _LATIN_WORD_RE.findall(text))
    weighted_cjk = 3 * (han + kana + hangul)
    if weighted_cjk > latin and weighted_cjk > 0:
        if kana > 0.1 * (han + kana):
            return "ja"
        if hangul > han:
            return "ko"
        return "zh"
    return "en"


def length_units(text: str) -> int:
    """Length in the unit readers expect: words for Latin text, characters for CJK."""
    return len(_CJK_RE.findall(text)) + len(re.findall(r"[^\W\d_]+|\d+", _CJK_RE.sub(" ", text)))

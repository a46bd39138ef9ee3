"""Per-instance metrics, all in [0, 1], all of which read Chinese.

- `rouge_l`: ROUGE-L F-measure from `seedtune.textsim` — identical to `rouge-score` on English,
  character tokens on CJK (where `rouge-score` deletes every Han character and scores 0).
- `exact_match`: SQuAD v1.1 normalisation (Rajpurkar et al. 2016, the official evaluate script:
  lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace). Chinese text has
  no articles or spaces, so for it we drop punctuation (ASCII and full-width) and all whitespace.
- `accuracy`: the extracted label equals a reference label after the same normalisation.
- `bleu` / `chrf`: sacrebleu sentence scores / 100, with `tokenize='zh'` for Chinese targets
  (the 13a tokenizer would treat a whole Chinese sentence as one word).
With several references an instance takes its best score, as the SuperNI evaluation does.
"""

from __future__ import annotations

from functools import lru_cache

from seedtune.textsim import exact_match, normalize_answer  # noqa: F401  (re-exported: shared with preference pairs)
from seedtune.textsim import is_cjk as _is_cjk
from seedtune.textsim import rouge_l as _rouge_l


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure in [0, 1]: `rouge-score`'s value on English, character-based on CJK.

    >>> rouge_l("the cat sat on the mat", "the cat sat on the mat")
    1.0
    >>> rouge_l("我喜欢吃苹果。", "我喜欢吃苹果。")
    1.0
    """
    return _rouge_l(prediction, reference)


def bleu(prediction: str, reference: str) -> float:
    # effective_order: short sentences without 4-gram matches are not zeroed (sacrebleu's advice
    # for sentence-level BLEU).
    return _bleu_metric("zh" if _is_cjk(reference) else "13a").sentence_score(prediction, [reference]).score / 100


@lru_cache(maxsize=2)
def _bleu_metric(tokenize: str):
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize, effective_order=True)


@lru_cache(maxsize=1)
def _chrf_metric():
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(prediction: str, reference: str) -> float:
    # chrF works on characters, so it needs no tokenizer choice for Chinese.
    return _chrf_metric().sentence_score(prediction, [reference]).score / 100


_SCORERS = {"rouge_l": rouge_l, "exact_match": exact_match, "bleu": bleu, "chrf": chrf}


def metrics_for(task_metric: str, is_classification: bool) -> list[str]:
    """Which metrics to compute for a task: always ROUGE-L and EM, plus the task's own metric."""
    names = ["rouge_l", "exact_match"]
    if is_classification or task_metric == "accuracy":
        names.append("accuracy")
    if task_metric in ("bleu", "chrf"):
        names += ["bleu", "chrf"]
    return names


def score(answer: str, references: list[str], names: list[str]) -> dict[str, float]:
    """Every metric in `names` for one answer, best over the references."""
    refs = references or [""]
    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            out[name] = max(exact_match(answer, r) for r in refs)
        else:
            out[name] = max(_SCORERS[name](answer, r) for r in refs)
    return out

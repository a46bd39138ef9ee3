"""Heuristic vocabulary shared by generation and curation, one copy each.

Word lists and small text functions that decide "is this a refusal", "does this task need an
image or a file", what "the same text" means, and how an instruction and its input are shown as
one text. Generation filters its teacher's output with them and curation filters records with
the same ones, so the two never disagree on a word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")

# Tasks a text-only model cannot do: Self-Instruct's list (images, graphs, files, ...) plus the
# Chinese words for the same things. Latin words match whole words, Chinese ones as substrings.
NON_TEXT_WORDS = (
    "image", "images", "graph", "graphs", "picture", "pictures", "photo", "photos", "file", "files",
    "map", "maps", "draw", "plot", "go to", "video", "audio", "music", "diagram", "flowchart", "screenshot",
    "record yourself",
    "图片", "图像", "照片", "视频", "音频", "音乐", "文件", "地图", "画一", "画出", "绘制", "图表", "流程图", "截图",
)

# An answer that refuses or talks about itself: self-descriptions count anywhere near the start,
# apologies only when the answer opens with them ("The robot said: I cannot sleep" is a story).
REFUSAL_ANYWHERE = (
    r"as an ai\b", r"as an ai language model", r"as a language model", r"i am an ai\b", r"i'm an ai\b",
    r"as an artificial intelligence", r"作为一个?(?:ai|人工智能)", r"作为一个?(?:ai|人工智能)?语言模型", r"我是一个?(?:ai|人工智能)",
)
REFUSAL_HEAD = (
    r"i'?m sorry,? but", r"i am sorry,? but", r"i apologi[sz]e,? but", r"i cannot\b", r"i can ?not\b", r"i can't\b",
    r"i am (?:unable|not able) to", r"i'm (?:unable|not able) to", r"i do not have (?:access|the ability)",
    r"i don't have (?:access|the ability)", r"i won't be able to",
    r"抱歉", r"对不起", r"我无法", r"我不能", r"我没有办法", r"很遗憾，我",
)
# Evol-Instruct's elimination rule (b) looks for "sorry" anywhere in a short answer (the paper's
# wording), a looser test than a refusal: these are its words.
SORRY_WORDS = ("sorry", "i apologize", "i apologise", "as an ai", "抱歉", "对不起", "很遗憾")


def join_instruction(instruction: str, input: str = "") -> str:
    """An instruction and its input as one user message: a blank line between, no input no gap."""
    return instruction if not input else f"{instruction}\n\n{input}"


def normalise(text: str) -> str:
    """Lowercase, punctuation dropped, whitespace collapsed: what 'the same text' means here."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def squash(text: str) -> str:
    """Lowercase with every punctuation mark and space removed: 'Positive.' == 'positive'."""
    return "".join(ch for ch in text.lower() if not unicodedata.category(ch).startswith(("P", "Z"))).strip()


def keyword_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """One regex for a word list: Latin words match whole words (so 'map' does not hit 'mapping'),
    spaces inside a phrase match any whitespace, CJK words match as substrings."""
    parts = []
    for word in sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True):
        escaped = re.escape(word).replace(r"\ ", r"\s+")
        parts.append(escaped if _CJK_CHAR.search(word) else rf"\b{escaped}\b")
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


NON_TEXT_RE = keyword_pattern(NON_TEXT_WORDS)


def refusal_patterns(extra: Sequence[str] = ()) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(anywhere, at the head) regexes of refusals, with `extra` literal phrases added to the first."""
    anywhere = re.compile("|".join([*REFUSAL_ANYWHERE, *(re.escape(e) for e in extra)]), re.IGNORECASE)
    head = re.compile(r"\A[\W_]*(?:" + "|".join(REFUSAL_HEAD) + ")", re.IGNORECASE)
    return anywhere, head

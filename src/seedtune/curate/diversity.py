"""Diversity report of a dataset: categories, leading verb + direct object, lengths, languages,
top n-grams. Markdown plus PNG figures, so a reviewer sees at a glance whether the set is 200
variants of "write a poem" (the Self-Instruct paper's verb-noun analysis, done without a parser).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedtune.io import write_json, write_text
from seedtune.records import Record
from seedtune.textsim import detect_lang, length_units, tokenize

# Words before the verb ("Please can you write ...") and between verb and object ("a short ...").
_LEAD = {"please", "can", "could", "would", "will", "you", "i", "we", "want", "need", "like", "to", "me",
         "us", "now", "also", "kindly", "help", "let's", "lets", "just", "then", "and", "so"}
_SKIP = {"a", "an", "the", "some", "this", "that", "these", "those", "my", "your", "our", "their", "his", "her",
         "its", "me", "us", "them", "him", "following", "given", "short", "brief", "simple", "new", "few", "good",
         "creative", "detailed", "list", "set", "couple", "series", "piece", "pair", "of", "one", "two", "three",
         "four", "five", "ten", "several", "more", "most", "best", "interesting", "funny", "small", "big", "quick",
         "concise", "clear", "formal", "informal", "original", "unique", "catchy", "possible", "different", "all",
         "each", "every", "any", "other", "up", "out", "down", "about", "for", "with", "to", "in", "on"}
_QUESTION = {"what", "why", "how", "when", "where", "who", "which", "is", "are", "do", "does", "did", "can", "should"}

_ZH_LEAD = ("请你", "请", "帮我", "你能", "能否", "可以", "麻烦", "试着", "尝试")
_ZH_VERBS = sorted(["写", "编写", "撰写", "创作", "解释", "描述", "总结", "概括", "列出", "列举", "生成", "翻译",
                    "改写", "重写", "比较", "分析", "给出", "提供", "设计", "判断", "计算", "回答", "推荐", "介绍",
                    "说明", "分类", "找出", "识别", "提取", "纠正", "修改", "排序", "评价", "制定", "想出", "讲"],
                   key=len, reverse=True)
_ZH_MEASURE = re.compile(r"^(?:[一二三四五六七八九十几两数\d]+)?[个首篇段封条份句种则张幅本道项点些]")
_ZH_PUNCT = re.compile(r"[，。,.：:；;！!？?\s]")
_ZH_STOP = re.compile(r"关于|的")


def verb_object(instruction: str) -> tuple[str, str]:
    """(leading verb, its direct object) by a light heuristic; ('', '') when none is found.

    English: skip polite lead-ins, take the first word as the verb (question words count as the
    'verb' of a question), then the first word after determiners/adjectives as the object.
    Chinese: strip lead-ins like 请/帮我, match the longest known verb at the start (else the first
    character), drop a measure phrase (一首, 三个...), then take the object up to 的/关于/punctuation.
    """
    if detect_lang(instruction) in ("zh", "ja", "ko"):
        text = instruction.strip()
        for lead in _ZH_LEAD:
            if text.startswith(lead):
                text = text[len(lead):]
                break
        verb = next((v for v in _ZH_VERBS if text.startswith(v)), text[:1])
        rest = _ZH_MEASURE.sub("", re.sub(r"^(?:一下|出)", "", text[len(verb):]))
        phrase = _ZH_PUNCT.split(rest, maxsplit=1)[0]
        if phrase.startswith("关于") and "的" in phrase:  # 关于春天的诗: the head noun follows 的
            phrase = phrase.split("的", 1)[1]
        obj = _ZH_STOP.split(phrase, maxsplit=1)[0][:4]
        return verb, obj
    words = [w for w in re.findall(r"[a-z][a-z'-]*", instruction.lower())]
    i = 0
    while i < len(words) and words[i] in _LEAD:
        i += 1
    if i >= len(words):
        return "", ""
    verb = words[i]
    if verb in _QUESTION:
        return verb, ""
    j = i + 1
    while j < len(words) and words[j] in _SKIP:
        j += 1
    return verb, words[j] if j < len(words) else ""


def top_ngrams(records: Sequence[Record], n: int = 3, k: int = 20) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for r in records:
        toks = tokenize(r.instruction)
        sep = "" if r.lang == "zh" else " "
        counts.update({sep.join(toks[i : i + n]) for i in range(len(toks) - n + 1)})
    return counts.most_common(k)


def diversity_stats(records: Sequence[Record]) -> dict[str, Any]:
    pairs = [verb_object(r.instruction) for r in records]
    return {
        "records": len(records),
        "categories": Counter(r.category or "(none)" for r in records).most_common(),
        "languages": Counter(r.lang or detect_lang(r.instruction) for r in records).most_common(),
        "verbs": Counter(v for v, _ in pairs if v).most_common(25),
        "verb_objects": Counter(f"{v} {o}".strip() for v, o in pairs if v).most_common(25),
        "distinct_verbs": len({v for v, _ in pairs if v}),
        "instruction_lengths": [length_units(r.instruction + " " + r.input) for r in records],
        "output_lengths": [length_units(r.output) for r in records],
        "top_trigrams": top_ngrams(records, 3),
    }


def _figures(stats: dict[str, Any], out_dir: Path) -> list[str]:
    import warnings

    with warnings.catch_warnings():  # without a CJK font, Chinese labels render as boxes: not an error
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        return _draw(stats, out_dir)


def _draw(stats: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Chinese labels need a CJK font; use one if the system has it, else matplotlib shows boxes.
    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    names = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in ((axes[0], "instruction_lengths", "instruction + input"), (axes[1], "output_lengths", "output")):
        values = stats[key] or [0]
        ax.hist(values, bins=min(40, max(5, len(set(values)))), color="#4472c4")
        ax.set_title(f"{title} length (words / CJK chars)")
        ax.set_xlabel("length")
        ax.set_ylabel("records")
    fig.tight_layout()
    fig.savefig(out_dir / "lengths.png", dpi=110)
    plt.close(fig)
    names.append("lengths.png")

    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, key, title in ((axes[0], "verb_objects", "leading verb + object"), (axes[1], "categories", "categories"),
                           (axes[2], "languages", "languages")):
        items = stats[key][:20][::-1]
        ax.barh([k for k, _ in items] or ["(none)"], [v for _, v in items] or [0], color="#ed7d31")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out_dir / "composition.png", dpi=110)
    plt.close(fig)
    names.append("composition.png")
    return names


def _table(rows: list[tuple[str, int]], head: str, total: int) -> str:
    lines = [f"| {head} | count | share |", "|---|---:|---:|"]
    lines += [f"| {k.replace('|', '/')} | {v} | {100 * v / max(1, total):.1f}% |" for k, v in rows]
    return "\n".join(lines)


def write_diversity_report(records: Sequence[Record], out_dir: str | Path, title: str = "Diversity report") -> Path:
    """Write diversity.md, diversity.json and PNG figures into `out_dir`; returns the Markdown path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = diversity_stats(records)
    n = stats["records"]
    write_json(out_dir / "diversity.json", {k: v for k, v in stats.items() if not k.endswith("_lengths")})
    figures = _figures(stats, out_dir) if n else []

    def median(values: list[int]) -> float:
        s = sorted(values)
        return float(s[len(s) // 2]) if s else 0.0

    md = [f"# {title}", "", f"{n} records; {stats['distinct_verbs']} distinct leading verbs; median length "
          f"{median(stats['instruction_lengths']):.0f} (instruction + input) and {median(stats['output_lengths']):.0f} "
          "(output), in words or CJK characters.", ""]
    md += [f"![{name}]({name})" for name in figures] + [""]
    md += ["## Languages", "", _table(stats["languages"], "language", n), ""]
    md += ["## Categories", "", _table(stats["categories"], "category", n), ""]
    md += ["## Leading verbs and their objects", "", _table(stats["verb_objects"], "verb + object", n), ""]
    md += ["## Most common instruction trigrams", "", _table(stats["top_trigrams"], "trigram", n), ""]
    path = out_dir / "diversity.md"
    write_text(path, "\n".join(md))
    return path

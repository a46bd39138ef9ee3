"""Benchmark: the incremental ROUGE-L novelty filter vs brute force with `rouge-score`.

Builds a reproducible stream of synthetic instructions (English and Chinese, from word lists and
templates, with planted near-duplicates: a word dropped, added or swapped, case and punctuation
changes), then

1. runs `seedtune.textsim.NoveltyIndex` over the whole stream (the Self-Instruct rule: keep an
   instruction only if ROUGE-L F <= threshold against every kept one) and times it;
2. runs the brute-force reference on the first `--sample` decisions: `rouge-score`'s own LCS and
   F-measure against every kept instruction, as Alpaca does (pre-tokenised, `_score_lcs`) and as
   Self-Instruct does (`RougeScorer.score`, tokenising every pair). For Chinese the reference
   uses `rouge-score` with a character tokenizer, since its default one deletes CJK text;
3. extrapolates the reference to the full stream from its time per pair and the number of pairs
   brute force must score (sum over decisions of the kept count at that moment), and prints the
   speed-up and the agreement on the sample (must be 100%).

    python bench/dedup.py                 # 52,000 instructions, 2,000-decision sample
    python bench/dedup.py --n 5000 --sample 500
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from seedtune.textsim import NoveltyIndex, tokenize

EN_VERBS = ["Write", "Explain", "Describe", "Summarize", "List", "Generate", "Create", "Compose",
            "Suggest", "Compare", "Identify", "Outline", "Propose", "Evaluate", "Draft", "Give",
            "Design", "Rewrite", "Brainstorm", "Analyze", "Classify", "Recommend", "Plan", "Name"]
EN_OBJECTS = ["a poem", "a short story", "an email", "a haiku", "a product description", "a recipe",
              "a tweet", "a blog post", "a headline", "a limerick", "a cover letter", "a speech",
              "three tips", "five ideas", "a dialogue", "a slogan", "a lesson plan", "a news report",
              "a riddle", "a checklist", "a paragraph", "two arguments", "a movie plot", "a job ad",
              "a review", "an itinerary", "a quiz", "a workout routine", "a joke", "a metaphor"]
EN_TOPICS = ("climate change|the French Revolution|quantum computing|urban gardening|remote work|"
             "the water cycle|machine learning|ancient Rome|photosynthesis|cryptocurrency|"
             "mental health|electric cars|the human heart|volcanoes|social media|public libraries|"
             "renewable energy|the stock market|honeybees|space exploration|time management|"
             "the Renaissance|coral reefs|online privacy|sleep hygiene|jazz music|chess openings|"
             "the immune system|supply chains|minimalism|coffee brewing|deep sea creatures|"
             "the printing press|fast fashion|bird migration|meditation|the Silk Road|"
             "plate tectonics|video game design|street food|the Olympic Games|black holes|"
             "vaccines|recycling|the Great Wall|language learning|robotics|desert ecosystems|"
             "inflation|friendship|a rainy afternoon|a lost cat|a first job interview|"
             "a mountain village|a broken phone|a birthday surprise|a late train|a job promotion|"
             "home insurance|sourdough bread|marathon training|smart homes|the Moon landing|"
             "ocean tides|wildfires|bicycle commuting|3D printing|antibiotics|tea ceremonies|"
             "board games|vertical farming|the Amazon rainforest|solar panels|origami|"
             "the periodic table|ancient Egypt|penguins|earthquakes|public speaking|"
             "budgeting for students|open source software|glaciers|the Roman Empire|opera").split("|")
EN_MODS = ["", "", "", " for a ten-year-old", " in three sentences", " using formal language",
           " in the style of a pirate", " with a surprising twist", " for a busy manager",
           " in under fifty words", " with a happy ending", " for beginners", " as a bulleted list",
           " for a science magazine", " in a humorous tone", " without using the letter e",
           " for a job application", " from the point of view of a cat", " in simple English"]
EN_QUESTIONS = ["What are the main causes of {t}?", "How does {t} affect {u}?",
                "Why is {t} important for {a}?", "What would happen if {t} disappeared?",
                "Give an example of how {t} relates to {u}.", "Is {t} good or bad for {a}? Explain.",
                "Classify the following as related to {t} or {u}: {w}.",
                "Find the odd one out: {t}, {u}, {w}.", "Compare {t} and {u} in a short table.",
                "Tell me a fun fact about {t}.", "What is the difference between {t} and {u}?"]
EN_AUDIENCE = ["children", "small businesses", "farmers", "students", "retirees", "doctors",
               "city planners", "artists", "teachers", "software engineers", "tourists"]

ZH_VERBS = ["写", "解释", "描述", "总结", "列出", "生成", "创作", "比较", "分析", "推荐", "设计", "改写"]
ZH_OBJECTS = ["一首诗", "一篇短文", "一封邮件", "一个故事", "一条广告语", "三条建议", "五个想法",
              "一份食谱", "一段对话", "一篇演讲稿", "一个谜语", "一份计划", "一篇评论", "一则新闻"]
ZH_TOPICS = ("气候变化|人工智能|长城|茶文化|春节|熊猫|量子计算|城市交通|网络安全|中医|丝绸之路|"
             "唐诗|高铁|垃圾分类|太空探索|心理健康|可再生能源|电子商务|古代建筑|书法|"
             "京剧|黄河|移动支付|睡眠质量|时间管理|环境保护|传统节日|海洋生物|火山|"
             "远程办公|电动汽车|校园生活|家庭教育|健康饮食|旅行计划|二十四节气|围棋|"
             "月饼|故宫|登山|下雨天|一只猫|第一次面试|生日惊喜|晚点的火车").split("|")
ZH_MODS = ["", "", "，要求不超过一百字", "，用幽默的语气", "，适合小学生阅读", "，使用正式的语言",
           "，并给出理由", "，结尾要出人意料"]
ZH_QUESTIONS = ["{t}的主要原因是什么？", "{t}如何影响{u}？", "为什么{t}对{a}很重要？",
                "请比较{t}和{u}的异同。", "如果没有{t}，世界会怎样？", "关于{t}有什么有趣的事实？"]
ZH_AUDIENCE = ["儿童", "老人", "学生", "农民", "医生", "游客", "程序员", "小企业"]


# Content words that make instructions on the same template differ the way real ones do.
EN_ADJ = ("old|tiny|angry|hidden|golden|quiet|broken|friendly|ancient|modern|frozen|noisy|lonely|"
          "curious|famous|secret|wooden|electric|forgotten|brave|clumsy|gentle|proud|rusty|silver|"
          "strange|busy|sleepy|magic|wild|polite|giant|empty|crowded|fragile|honest|shy|lucky").split("|")
EN_NOUN = ("lighthouse|teapot|robot|garden|violin|bakery|museum|dragon|bicycle|library|island|"
           "astronaut|detective|farmer|orchestra|volcano|submarine|castle|umbrella|compass|"
           "pharmacy|spaceship|notebook|festival|mailbox|pirate|scientist|glacier|elevator|"
           "lantern|carousel|backpack|vineyard|typewriter|canyon|harbor|owl|tortoise|chef|mayor|"
           "painter|nurse|tailor|clockmaker|river|desert|forest|subway|bridge|market|kitchen").split("|")
EN_PLACE = ["in Tokyo", "on Mars", "at midnight", "in a small town", "during a storm", "in 1920",
            "under the sea", "at a wedding", "in the year 3000", "on a train", "in a hospital",
            "at school", "in a cave", "at the airport", "on a farm", "in the jungle", ""]
ZH_NOUN = ("灯塔|茶壶|机器人|花园|小提琴|面包店|博物馆|龙|自行车|图书馆|小岛|宇航员|侦探|农民|乐队|"
           "潜水艇|城堡|雨伞|指南针|药店|飞船|笔记本|邮箱|海盗|科学家|冰川|电梯|灯笼|背包|"
           "葡萄园|打字机|峡谷|港口|猫头鹰|乌龟|厨师|市长|画家|护士|裁缝|钟表匠|小河|沙漠|森林").split("|")
ZH_ADJ = ["古老的", "小小的", "生气的", "神秘的", "金色的", "安静的", "破旧的", "友好的", "现代的",
          "冰冻的", "吵闹的", "孤独的", "好奇的", "著名的", "木头的", "勇敢的", "温柔的", "奇怪的"]
ZH_PLACE = ["在东京", "在火星上", "在午夜", "在小镇里", "在暴风雨中", "在海底", "在婚礼上",
            "在火车上", "在医院里", "在学校", "在山洞里", "在机场", ""]


def _english(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return f"{rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)} about {rng.choice(EN_TOPICS)}{rng.choice(EN_MODS)}."
    if roll < 0.7:
        place = rng.choice(EN_PLACE)
        return (f"{rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)} about a {rng.choice(EN_ADJ)} "
                f"{rng.choice(EN_NOUN)} and a {rng.choice(EN_ADJ)} {rng.choice(EN_NOUN)}"
                f"{' ' + place if place else ''}{rng.choice(EN_MODS)}.")
    t, u, w = rng.sample(EN_TOPICS, 3)
    return rng.choice(EN_QUESTIONS).format(t=t, u=u, w=w, a=rng.choice(EN_AUDIENCE))


def _chinese(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return f"请{rng.choice(ZH_VERBS)}{rng.choice(ZH_OBJECTS)}，主题是{rng.choice(ZH_TOPICS)}{rng.choice(ZH_MODS)}。"
    if roll < 0.7:
        return (f"{rng.choice(ZH_VERBS)}{rng.choice(ZH_OBJECTS)}：{rng.choice(ZH_PLACE)}，{rng.choice(ZH_ADJ)}"
                f"{rng.choice(ZH_NOUN)}遇见了{rng.choice(ZH_ADJ)}{rng.choice(ZH_NOUN)}{rng.choice(ZH_MODS)}。")
    t, u = rng.sample(ZH_TOPICS, 2)
    return rng.choice(ZH_QUESTIONS).format(t=t, u=u, a=rng.choice(ZH_AUDIENCE))


def _perturb(rng: random.Random, text: str) -> str:
    """A planted near-duplicate: one small edit a teacher model typically makes."""
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        chars = list(text)
        i = rng.randrange(len(chars))
        edit = rng.random()
        if edit < 0.4:
            chars.insert(i, rng.choice("的了很也都请"))
        elif edit < 0.7 and len(chars) > 4:
            del chars[i]
        else:
            chars[-1] = rng.choice("。！？")
        return "".join(chars)
    words = text.split()
    edit = rng.random()
    if edit < 0.3 and len(words) > 3:
        del words[rng.randrange(len(words))]
    elif edit < 0.6:
        words.insert(rng.randrange(len(words) + 1), rng.choice(["please", "briefly", "also", "really", "new"]))
    elif edit < 0.8:
        words[rng.randrange(len(words))] = rng.choice(EN_TOPICS).split()[-1]
    else:
        return text.upper() if rng.random() < 0.5 else text.rstrip(".?!") + "!"
    return " ".join(words)


def make_instructions(n: int, seed: int = 0, zh_share: float = 0.2, dup_share: float = 0.15) -> list[str]:
    """`n` instructions, `zh_share` Chinese, `dup_share` planted near-duplicates of earlier ones."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup_share:
            out.append(_perturb(rng, out[rng.randrange(len(out))]))
        else:
            out.append(_chinese(rng) if rng.random() < zh_share else _english(rng))
    return out


class _CharTokenizer:
    """rouge-score tokenizer interface with CJK characters as tokens (= seedtune's tokenizer)."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=52_000, help="instructions in the stream")
    parser.add_argument("--sample", type=int, default=2_000, help="decisions checked by brute force")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from rouge_score import rouge_scorer, tokenize as rs_tokenize

    texts = make_instructions(args.n, args.seed)
    zh = sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)
    print(f"stream: {len(texts):,} instructions ({zh:,} Chinese), threshold {args.threshold}")

    # Tokenizer equivalence with stock rouge-score on every English instruction.
    english = [t for t in texts if not any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    same = sum(tokenize(t) == rs_tokenize.tokenize(t, None) for t in english)
    print(f"tokenizer == rouge-score's on English: {same:,}/{len(english):,}")

    # 1. ours over the full stream
    start = time.perf_counter()
    index = NoveltyIndex(args.threshold)
    decisions, brute_pairs = [], 0
    for text in texts:
        brute_pairs += len(index)
        decisions.append(index.check_and_add(text)[0])
    ours_s = time.perf_counter() - start
    kept = sum(decisions)
    print(f"ours: {ours_s:.2f} s for {len(texts):,} decisions, kept {kept:,}, "
          f"exact LCS on {index.pairs_scored:,} of {brute_pairs:,} pairs "
          f"({index.pairs_scored / max(1, brute_pairs):.2e})")

    # 2. brute force on the first `sample` decisions, two ways
    sample = texts[: args.sample]
    sample_pairs = sum(sum(decisions[:i]) for i in range(len(sample)))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_CharTokenizer())

    start = time.perf_counter()
    kept_tokens: list[list[str]] = []
    ref_alpaca = []
    for text in sample:
        toks = scorer._tokenizer.tokenize(text)
        ok = max((rouge_scorer._score_lcs(k, toks).fmeasure for k in kept_tokens), default=0.0) <= args.threshold
        ref_alpaca.append(ok)
        if ok:
            kept_tokens.append(toks)
    alpaca_s = time.perf_counter() - start

    start = time.perf_counter()
    kept_texts: list[str] = []
    ref_si = []
    for text in sample[: max(1, len(sample) // 4)]:  # tokenising every pair is slow: a quarter
        ok = max((scorer.score(k, text)["rougeL"].fmeasure for k in kept_texts), default=0.0) <= args.threshold
        ref_si.append(ok)
        if ok:
            kept_texts.append(text)
    si_s = time.perf_counter() - start
    si_pairs = sum(sum(decisions[:i]) for i in range(len(ref_si)))

    agree = sum(a == b for a, b in zip(ref_alpaca, decisions))
    agree_si = sum(a == b for a, b in zip(ref_si, decisions))
    per_pair_alpaca = alpaca_s / max(1, sample_pairs)
    per_pair_si = si_s / max(1, si_pairs)
    full_alpaca = per_pair_alpaca * brute_pairs
    full_si = per_pair_si * brute_pairs
    print(f"reference (pre-tokenised _score_lcs, as Alpaca): {per_pair_alpaca * 1e6:.1f} us/pair "
          f"-> {full_alpaca / 3600:.2f} h extrapolated for {brute_pairs:,} pairs")
    print(f"reference (RougeScorer.score per pair, as Self-Instruct): {per_pair_si * 1e6:.1f} us/pair "
          f"-> {full_si / 3600:.2f} h extrapolated")
    print(f"agreement on the first {len(ref_alpaca):,} decisions: {agree}/{len(ref_alpaca)} "
          f"({100 * agree / max(1, len(ref_alpaca)):.1f}%); Self-Instruct-style: {agree_si}/{len(ref_si)}")
    print(f"speed-up: x{full_alpaca / ours_s:,.0f} vs Alpaca-style, x{full_si / ours_s:,.0f} vs Self-Instruct-style "
          f"(single process both sides)")
    if agree != len(ref_alpaca) or agree_si != len(ref_si):
        sys.exit("DISAGREEMENT with the brute-force reference")


if __name__ == "__main__":
    main()

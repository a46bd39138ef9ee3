"""Build `src/seedtune/data/heldout_if.jsonl`, the heldout-if suite, from hand-written parts.

    python tools/build_heldout_if.py

Base requests come from `heldout_if_prompts.py`; every constraint is phrased here, in words of
our own that differ from the phrasing generated training data uses (`seedtune.verifiable.describe`),
so the suite tests following a kind of instruction, not recognising a sentence. Half the prompts of
each language carry constraints from the training families ("seen"), the other half only from the
held-out families; yes/no questions always carry the fixed-reply constraint. Length bounds are
kept within what ~160 new tokens can meet, so a short answer budget does not fail them by itself.
The draw is seeded: rerunning writes the same file.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).parent))

import heldout_if_prompts as P  # noqa: E402

from seedtune.verifiable import TRAINING_FAMILIES, family_of, make_constraint  # noqa: E402

OUT = ROOT / "src" / "seedtune" / "data" / "heldout_if.jsonl"


def choose(rng, *options):
    return rng.choice(options)


# id -> (slots, langs, kwargs(rng, lang, topic words, base), {lang: [phrasings]})
def _kw_none(rng, lang, words, base):
    return {}


def _case_freq(rng, lang, words, base):
    if rng.random() < 0.5:
        return {"capital_frequency": rng.randint(2, 4), "capital_relation": "at least"}
    return {"capital_frequency": rng.randint(2, 3), "capital_relation": "less than"}


def _n_words(rng, lang, words, base):
    if rng.random() < 0.6:
        return {"num_words": choose(rng, 40, 50, 60, 80), "relation": "less than"}
    return {"num_words": choose(rng, 40, 50, 60), "relation": "at least"}


def _n_sent(rng, lang, words, base):
    if rng.random() < 0.6:
        return {"num_sentences": rng.randint(3, 5), "relation": "less than"}
    return {"num_sentences": rng.randint(2, 4), "relation": "at least"}


def _zh_chars(rng, lang, words, base):
    if rng.random() < 0.6:
        return {"num_chars": choose(rng, 50, 80, 100), "relation": "at most"}
    return {"num_chars": choose(rng, 40, 60, 80), "relation": "at least"}


def _zh_sent(rng, lang, words, base):
    return {"num_sentences": rng.randint(2, 4), "relation": choose(rng, "at most", "at least", "exactly")}


def _end(rng, lang, words, base):
    return {"end_phrase": choose(rng, "That is all for now.", "Thanks for asking.", "Have a lovely day!")
            if lang == "en" else choose(rng, "就说到这里。", "谢谢你的提问。", "祝你生活愉快！")}


def _ps(rng, lang, words, base):
    return {"postscript_marker": choose(rng, "P.S.", "P.P.S") if lang == "en" else "附言："}


def _bullets(rng, lang, words, base):
    return {"num_bullets": rng.randint(2, 4)}


def _kw_exist(rng, lang, words, base):
    return {"keywords": list(words[:rng.randint(1, 2)])}


def _kw_freq(rng, lang, words, base):
    return {"keyword": words[-1], "frequency": rng.randint(2, 3), "relation": "at least"}


def _forbidden(rng, lang, words, base):
    pool = ["very", "really", "thing", "nice", "just"] if lang == "en" else ["非常", "可以", "一些", "我们", "因为"]
    return {"forbidden_words": rng.sample(pool, 2)}


def _letters(rng, lang, words, base):
    if rng.random() < 0.5:
        return {"letter": choose(rng, "e", "t", "a"), "let_frequency": choose(rng, 15, 20, 25), "let_relation": "at least"}
    return {"letter": choose(rng, "z", "q", "x", "j"), "let_frequency": choose(rng, 2, 3), "let_relation": "less than"}


def _language(rng, lang, words, base):
    return {"language": choose(rng, "fr", "de", "es")} if lang == "en" else {"language": "en"}


def _paragraphs(rng, lang, words, base):
    return {"num_paragraphs": rng.randint(2, 3)}


def _nth(rng, lang, words, base):
    n = rng.randint(2, 3)
    word = choose(rng, "first", "then", "finally", "overall") if lang == "en" else choose(rng, "首先", "其次", "最后", "总之")
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": word}


def _placeholders(rng, lang, words, base):
    return {"num_placeholders": rng.randint(1, 3)}


def _highlights(rng, lang, words, base):
    return {"num_highlights": rng.randint(1, 3)}


def _sections(rng, lang, words, base):
    return {"section_spliter": choose(rng, "Section", "PART") if lang == "en" else "第", "num_sections": rng.randint(2, 3)}


def _repeat(rng, lang, words, base):
    return {"prompt_to_repeat": base}


LANGUAGE_NAMES = {"fr": ("French", "法语"), "de": ("German", "德语"), "es": ("Spanish", "西班牙语"), "en": ("English", "英文")}

SPECS = {
    # training families: "seen"
    "change_case:english_lowercase": ("case", "en", _kw_none, {"en": ["Use no capital letters at all in your reply.", "Type everything in lower case, including the first letter of each sentence."]}),
    "change_case:english_capital": ("case", "en", _kw_none, {"en": ["Reply entirely in UPPER CASE letters.", "Every letter of your reply must be a capital."]}),
    "change_case:capital_word_frequency": ("case", "en", _case_freq, {"en": ["Put {capital_relation_en} {capital_frequency} words in full capitals for emphasis."]}),
    "detectable_format:json_format": ("whole start end layout case punct", "en zh", _kw_none, {"en": ["Return the reply as a valid JSON object and nothing else.", "Your output must parse as JSON."], "zh": ["请只输出一个合法的 JSON 对象。", "回答必须是可以被解析的 JSON。"]}),
    "detectable_format:title": ("start", "en zh", _kw_none, {"en": ["Begin with a heading wrapped in double angle brackets, for example <<A Fine Day>>."], "zh": ["开头写一个标题，放在双尖括号里，比如<<美好的一天>>。"]}),
    "zh:title_brackets": ("start", "zh", _kw_none, {"zh": ["第一行只写标题，并用书名号括起来，例如《小城故事》。"]}),
    "startend:quotation": ("whole start end layout", "en zh", _kw_none, {"en": ["Put the entire reply inside one pair of double quotes."], "zh": ["整段回答放在一对英文双引号 \"\" 里面。"]}),
    "startend:end_checker": ("end", "en zh", _end, {"en": ["Your final words must be exactly: {end_phrase}", "Close with the sentence \"{end_phrase}\" and add nothing after it."], "zh": ["最后一句必须是“{end_phrase}”，后面不要再写别的。"]}),
    "detectable_content:postscript": ("end", "en zh", _ps, {"en": ["After the main text, add a note that begins with {postscript_marker}"], "zh": ["正文之后加一条以“{postscript_marker}”开头的补充说明。"]}),
    "detectable_format:number_bullet_lists": ("layout", "en zh", _bullets, {"en": ["Format the reply as {num_bullets} markdown bullets (lines starting with *), no more and no fewer."], "zh": ["用{num_bullets}条 markdown 列表（每行以 * 开头）来回答，不多也不少。"]}),
    "length_constraints:number_words": ("length", "en", _n_words, {"en": ["Keep the reply to {relation_en} {num_words} words.", "Use {relation_en} {num_words} words in total."]}),
    "length_constraints:number_sentences": ("length", "en", _n_sent, {"en": ["Write {relation_en} {num_sentences} sentences."]}),
    "zh:char_count": ("length", "zh", _zh_chars, {"zh": ["全文{relation_zh}{num_chars}个汉字。", "字数要求：{relation_zh}{num_chars}字。"]}),
    "zh:sentence_count": ("length", "zh", _zh_sent, {"zh": ["全文{relation_zh}{num_sentences}句话，每句以句号、问号或感叹号结束。"]}),
    "punctuation:no_comma": ("punct", "en", _kw_none, {"en": ["Avoid commas completely.", "Write without using a single comma."]}),
    "zh:no_comma": ("punct", "zh", _kw_none, {"zh": ["全文不要出现逗号。", "不许使用逗号，可以用句号断句。"]}),
    "zh:fullwidth_punctuation": ("punct", "zh", _kw_none, {"zh": ["标点一律用中文全角符号，不要用半角的 , . ! ? 这些符号。"]}),
    # held-out families
    "keywords:existence": ("words", "en zh", _kw_exist, {"en": ["Make sure the words {keywords_en} appear in the reply."], "zh": ["回答里要用到这些词：{keywords_zh}。"]}),
    "keywords:frequency": ("words", "en zh", _kw_freq, {"en": ["Mention the word \"{keyword}\" {relation_en} {frequency} times."], "zh": ["“{keyword}”这个词至少要出现{frequency}次。"]}),
    "keywords:forbidden_words": ("forbid", "en zh", _forbidden, {"en": ["Never use these words: {forbidden_en}."], "zh": ["不准出现这些词：{forbidden_zh}。"]}),
    "keywords:letter_frequency": ("letters", "en", _letters, {"en": ["The letter '{letter}' should appear {let_relation_en} {let_frequency} times in your reply."]}),
    "language:response_language": ("lang words", "en zh", _language, {"en": ["Write the whole reply in {language_name_en}; no other language."], "zh": ["请全部用{language_name_zh}作答，不要夹杂中文。"]}),
    "zh:no_latin": ("lang", "zh", _kw_none, {"zh": ["回答中不能出现任何拉丁字母（包括英文单词和缩写）。"]}),
    "length_constraints:number_paragraphs": ("layout", "en zh", _paragraphs, {"en": ["Organise the reply into {num_paragraphs} paragraphs and put a line with *** between paragraphs."], "zh": ["分成{num_paragraphs}段来写，段与段之间单独一行写 ***。"]}),
    "length_constraints:nth_paragraph_first_word": ("layout start words", "en zh", _nth, {"en": ["Write {num_paragraphs} paragraphs separated by an empty line, and start paragraph number {nth_paragraph} with the word \"{first_word}\"."], "zh": ["写{num_paragraphs}段，段落之间空一行，第{nth_paragraph}段的开头用“{first_word}”。"]}),
    "detectable_content:number_placeholders": ("words", "en zh", _placeholders, {"en": ["Leave {num_placeholders} or more blanks for the reader to fill in, written in square brackets such as [date]."], "zh": ["留出至少{num_placeholders}处让读者填写的地方，用方括号标出，比如[日期]。"]}),
    "detectable_format:number_highlighted_sections": ("words", "en zh", _highlights, {"en": ["Mark at least {num_highlights} key phrases with asterisks, as in *key phrase*."], "zh": ["用星号标出至少{num_highlights}处重点，例如*重点内容*。"]}),
    "detectable_format:multiple_sections": ("layout", "en zh", _sections, {"en": ["Divide the reply into {num_sections} parts, labelled {section_spliter} 1, {section_spliter} 2 and so on."], "zh": ["把回答分为{num_sections}个部分，分别以“第1部分”“第2部分”等开头。"]}),
    "combination:two_responses": ("whole layout", "en zh", _kw_none, {"en": ["Offer two distinct replies, with a line of six asterisks (******) between them."], "zh": ["写出两个不一样的回答，中间用一行六个星号（******）隔开。"]}),
    "combination:repeat_prompt": ("start lang letters forbid", "en zh", _repeat, {"en": ["Start by copying my request exactly as written (only the request, not these extra rules), then reply."], "zh": ["先把我的请求原样抄写一遍（只抄请求本身，不抄这些附加要求），再作答。"]}),
    "detectable_format:constrained_response": ("whole end start layout lang words letters", "en zh", _kw_none, {"en": ["Reply with exactly one of these: \"My answer is yes.\", \"My answer is no.\" or \"My answer is maybe.\""], "zh": ["只能用下面其中一句回答：“我的回答是：是。”“我的回答是：否。”“我的回答是：也许。”"]}),
}

REL_EN = {"less than": "fewer than", "at least": "at least", "at most": "at most"}
REL_ZH = {"less than": "少于", "at least": "不少于", "at most": "不超过", "exactly": "恰好"}


def phrase(cid: str, lang: str, kwargs: dict, rng: random.Random) -> str:
    values = dict(kwargs)
    for key in ("relation", "capital_relation", "let_relation"):
        if key in values:
            values[key + "_en"] = REL_EN.get(values[key], values[key])
            values[key + "_zh"] = REL_ZH[values[key]]
    if "keywords" in values:
        values["keywords_en"] = " and ".join(f'"{k}"' for k in values["keywords"])
        values["keywords_zh"] = "、".join(f"“{k}”" for k in values["keywords"])
    if "forbidden_words" in values:
        values["forbidden_en"] = ", ".join(f'"{k}"' for k in values["forbidden_words"])
        values["forbidden_zh"] = "、".join(f"“{k}”" for k in values["forbidden_words"])
    if "language" in values:
        values["language_name_en"], values["language_name_zh"] = LANGUAGE_NAMES[values["language"]]
    return rng.choice(SPECS[cid][3][lang]).format(**values)


def pick(rng: random.Random, lang: str, seen: bool, k: int, forced: list[str]) -> list[str]:
    pool = [cid for cid, spec in SPECS.items() if lang in spec[1].split()
            and (family_of(cid) in TRAINING_FAMILIES) == seen and cid != "detectable_format:constrained_response"]
    rng.shuffle(pool)
    chosen, used = list(forced), set()
    for cid in chosen:
        used |= set(SPECS[cid][0].split())
    for cid in pool:
        if len(chosen) >= k:
            break
        slots = set(SPECS[cid][0].split())
        if not slots & used and cid not in chosen:
            chosen.append(cid)
            used |= slots
    return chosen


def build() -> list[dict]:
    rng = random.Random(2026)
    rows = []
    groups = [("en", P.parse(P.EN), False), ("zh", P.parse(P.ZH), False),
              ("en", P.parse(P.EN_YES_NO), True), ("zh", P.parse(P.ZH_YES_NO), True)]
    for lang, items, yes_no in groups:
        for i, (base, words) in enumerate(items):
            seen = False if yes_no else i % 2 == 0
            k = rng.choice((1, 1, 2, 2, 3))
            forced = ["detectable_format:constrained_response"] if yes_no else []
            ids = pick(rng, lang, seen, k, forced)
            kwargs = [SPECS[cid][2](rng, lang, words, base) for cid in ids]
            for cid, kw in zip(ids, kwargs):
                make_constraint(cid, kw)  # every constraint must validate
            sep = " " if lang == "en" else ""
            prompt = base + "\n\n" + sep.join(phrase(cid, lang, kw, rng) for cid, kw in zip(ids, kwargs))
            rows.append({"key": f"hif-{len(rows):03d}", "prompt": prompt, "instruction_id_list": ids,
                         "kwargs": kwargs, "lang": lang, "split": "seen" if seen else "held-out"})
    return rows


if __name__ == "__main__":
    rows = build()
    with OUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {OUT.relative_to(ROOT)}")

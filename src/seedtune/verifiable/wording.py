"""How a constraint reads in a prompt, in English and Chinese.

The generator appends these sentences to an instruction, the suite and a preference builder can
do the same; one wording per id keeps training data and evaluation prompts consistent, and the
held-out suite words its own prompts by hand so it does not share this phrasing.
"""

from __future__ import annotations

from typing import Any

from seedtune.verifiable.registry import Constraint, spec_of

_REL_EN = {"less than": "fewer than", "at least": "at least", "at most": "at most", "more than": "more than",
           "exactly": "exactly"}
_REL_ZH = {"less than": "少于", "at least": "不少于", "at most": "不超过", "more than": "多于", "exactly": "恰好"}

_EN: dict[str, str] = {
    "keywords:existence": "Include the keywords {keywords_list} in your answer.",
    "keywords:frequency": "Use the word \"{keyword}\" {rel} {frequency} times.",
    "keywords:forbidden_words": "Do not use the words {forbidden_list}.",
    "keywords:letter_frequency": "The letter \"{letter}\" must appear {let_rel} {let_frequency} times.",
    "language:response_language": "Answer only in the language with ISO code \"{language}\".",
    "zh:no_latin": "Do not use any Latin letters.",
    "length_constraints:number_words": "Answer in {rel} {num_words} words.",
    "length_constraints:number_sentences": "Answer in {rel} {num_sentences} sentences.",
    "zh:char_count": "Answer in {rel} {num_chars} Chinese characters.",
    "zh:sentence_count": "Answer in {rel} {num_sentences} sentences.",
    "length_constraints:number_paragraphs": "Write exactly {num_paragraphs} paragraphs, separated by the markdown divider ***.",
    "length_constraints:nth_paragraph_first_word": "Write exactly {num_paragraphs} paragraphs separated by blank lines; paragraph {nth_paragraph} must start with the word \"{first_word}\".",
    "detectable_content:number_placeholders": "Include at least {num_placeholders} placeholders in square brackets, like [name].",
    "detectable_format:number_highlighted_sections": "Highlight at least {num_highlights} parts with markdown, like *this part*.",
    "detectable_format:multiple_sections": "Split your answer into {num_sections} sections, each starting with \"{section_spliter} X\" (X is its number).",
    "combination:two_responses": "Give two different answers, separated by six asterisks: ******.",
    "combination:repeat_prompt": "First repeat the request word for word without change, then give your answer.",
    "detectable_format:constrained_response": "Answer with one of: \"My answer is yes.\", \"My answer is no.\", \"My answer is maybe.\"",
    "change_case:english_lowercase": "Write your whole answer in lowercase letters; no capital letters.",
    "change_case:english_capital": "Write your whole answer in capital letters.",
    "change_case:capital_word_frequency": "Write {capital_rel} {capital_frequency} words in ALL CAPITALS.",
    "detectable_format:json_format": "Wrap your whole answer in JSON.",
    "detectable_format:title": "Give your answer a title in double angular brackets, like <<title>>.",
    "zh:title_brackets": "Start with a title line in Chinese title marks, like 《标题》.",
    "startend:quotation": "Wrap your whole answer in double quotation marks.",
    "startend:end_checker": "End your answer with the exact phrase \"{end_phrase}\"; write nothing after it.",
    "detectable_content:postscript": "At the end, add a postscript starting with {postscript_marker}",
    "detectable_format:number_bullet_lists": "Answer with exactly {num_bullets} bullet points in markdown, like:\n* first point\n* second point",
    "punctuation:no_comma": "Do not use any commas.",
    "zh:no_comma": "Do not use any commas.",
    "zh:fullwidth_punctuation": "Use only full-width Chinese punctuation.",
}

_ZH: dict[str, str] = {
    "keywords:existence": "回答中必须包含关键词{keywords_list}。",
    "keywords:frequency": "“{keyword}”一词要出现{rel}{frequency}次。",
    "keywords:forbidden_words": "回答中不要出现{forbidden_list}这些词。",
    "keywords:letter_frequency": "字母“{letter}”要出现{let_rel}{let_frequency}次。",
    "language:response_language": "只用语言代码为“{language}”的语言回答。",
    "zh:no_latin": "回答中不要出现任何英文字母。",
    "length_constraints:number_words": "回答字数{rel}{num_words}个词。",
    "length_constraints:number_sentences": "回答{rel}{num_sentences}句话。",
    "zh:char_count": "回答{rel}{num_chars}个字。",
    "zh:sentence_count": "回答{rel}{num_sentences}句话（以。！？结尾）。",
    "length_constraints:number_paragraphs": "恰好写{num_paragraphs}段，段与段之间用 *** 分隔。",
    "length_constraints:nth_paragraph_first_word": "恰好写{num_paragraphs}段，段与段之间空一行；第{nth_paragraph}段要以“{first_word}”开头。",
    "detectable_content:number_placeholders": "回答中至少包含{num_placeholders}个方括号占位符，例如[姓名]。",
    "detectable_format:number_highlighted_sections": "用 markdown 突出显示至少{num_highlights}处内容，例如*重点*。",
    "detectable_format:multiple_sections": "把回答分成{num_sections}个部分，每部分以“{section_spliter} X”开头（X 为序号）。",
    "combination:two_responses": "给出两个不同的回答，中间用六个星号 ****** 分隔。",
    "combination:repeat_prompt": "先一字不改地重复这个请求，再给出回答。",
    "detectable_format:constrained_response": "只能从以下回答中选一个：“我的回答是：是。”、“我的回答是：否。”、“我的回答是：也许。”",
    "change_case:english_lowercase": "整个回答用英文小写字母书写。",
    "change_case:english_capital": "整个回答用英文大写字母书写。",
    "change_case:capital_word_frequency": "全大写的英文单词要出现{capital_rel}{capital_frequency}个。",
    "detectable_format:json_format": "把整个回答包装成 JSON 格式。",
    "detectable_format:title": "给回答加一个标题，用双尖括号括起来，例如<<标题>>。",
    "zh:title_brackets": "第一行写一个用书名号括起来的标题，例如《标题》。",
    "startend:quotation": "用英文双引号 \" 把整个回答括起来。",
    "startend:end_checker": "回答必须以“{end_phrase}”结尾，之后不要再写任何内容。",
    "detectable_content:postscript": "在结尾加一段附言，以“{postscript_marker}”开头。",
    "detectable_format:number_bullet_lists": "用恰好{num_bullets}个 markdown 列表项回答，例如：\n* 第一点\n* 第二点",
    "punctuation:no_comma": "回答中不要使用英文逗号“,”。",
    "zh:no_comma": "回答中不要使用任何逗号（，或 ,）。",
    "zh:fullwidth_punctuation": "只使用中文全角标点符号（，。！？；：）。",
}


def describe(constraint: Constraint, lang: str = "en") -> str:
    """The constraint as one instruction sentence in `lang` ('en' or 'zh').

    >>> describe(Constraint("zh:char_count", {"num_chars": 50, "relation": "at most"}), "zh")
    '回答不超过50个字。'
    """
    spec_of(constraint.id)
    zh = lang == "zh"
    template = (_ZH if zh else _EN)[constraint.id]
    rel = _REL_ZH if zh else _REL_EN
    values: dict[str, Any] = dict(constraint.kwargs)
    sep = "、" if zh else ", "
    for key in ("relation", "let_relation", "capital_relation"):
        if key in values:
            values[key.replace("relation", "rel")] = rel[values[key]]
    if "keywords" in values:
        values["keywords_list"] = sep.join(_quoted(k, zh) for k in values["keywords"])
    if "forbidden_words" in values:
        values["forbidden_list"] = sep.join(_quoted(k, zh) for k in values["forbidden_words"])
    values.setdefault("section_spliter", "第" if zh else "Section")
    return template.format(**values)


def _quoted(word: str, zh: bool) -> str:
    return f"“{word}”" if zh else f'"{word}"'

"""The checkers: one pure function per instruction id, registered with its family.

IFEval's ids (Zhou et al. 2023, "Instruction-Following Evaluation for Large Language Models") keep
IFEval's spelling and kwargs names so a public `input_data.jsonl` reads unchanged; the semantics
follow the paper's definitions, written here from them. `zh:` ids are Chinese-specific: Chinese
counts characters, not words, ends sentences with 。！？ and has its own punctuation.
"""

from __future__ import annotations

import json
import re

from seedtune.verifiable.registry import Relation, checker, compare
from seedtune.verifiable.text import HAN_RE, LATIN_RE, count_han, count_words, guess_language, paragraphs, sentences, words


def _contains_word(text: str, word: str) -> int:
    """Occurrences of `word`: whole-word and case-insensitive on Latin, substring on CJK."""
    if HAN_RE.search(word):
        return text.count(word)
    return len(re.findall(r"(?<![^\W_])" + re.escape(word) + r"(?![^\W_])", text, flags=re.IGNORECASE))


# --- keywords (held out) ---------------------------------------------------------------------

@checker("keywords:existence", family="keywords")
def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    """Every keyword appears.

    >>> keywords_existence("Rain and sun.", keywords=["rain", "sun"])
    True
    >>> keywords_existence("Rainy day.", keywords=["rain"])
    False
    """
    return all(_contains_word(response, k) for k in keywords)


@checker("keywords:frequency", family="keywords")
def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: Relation) -> bool:
    """The keyword appears `relation` `frequency` times.

    >>> keywords_frequency("tea, tea, tea", keyword="tea", frequency=3, relation="at least")
    True
    """
    return compare(_contains_word(response, keyword), relation, frequency)


@checker("keywords:forbidden_words", family="keywords")
def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """None of the words appears.

    >>> keywords_forbidden_words("A calm sea.", forbidden_words=["storm"])
    True
    """
    return not any(_contains_word(response, w) for w in forbidden_words)


@checker("keywords:letter_frequency", family="keywords", langs=("en",))
def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: Relation) -> bool:
    """The letter (any case) appears `let_relation` `let_frequency` times.

    >>> keywords_letter_frequency("Banana", letter="a", let_frequency=3, let_relation="at least")
    True
    """
    return compare(response.lower().count(letter.lower()), let_relation, let_frequency)


# --- language (held out) ---------------------------------------------------------------------

@checker("language:response_language", family="language")
def response_language(response: str, *, language: str) -> bool:
    """The answer is written in `language` (ISO 639-1 code).

    >>> response_language("The answer is yes and it is simple.", language="en")
    True
    >>> response_language("答案是肯定的。", language="en")
    False
    """
    return guess_language(response) == language.lower()


@checker("zh:no_latin", family="language", langs=("zh",))
def zh_no_latin(response: str) -> bool:
    """No Latin letter anywhere (不得出现英文字母).

    >>> zh_no_latin("今天很好。"), zh_no_latin("今天很OK。")
    (True, False)
    """
    return bool(response.strip()) and not LATIN_RE.search(response)


# --- length (training) -----------------------------------------------------------------------

@checker("length_constraints:number_words", family="length")
def number_words(response: str, *, num_words: int, relation: Relation) -> bool:
    """Word count `relation` `num_words`.

    >>> number_words("one two three", num_words=4, relation="less than")
    True
    """
    return compare(count_words(response), relation, num_words)


@checker("length_constraints:number_sentences", family="length")
def number_sentences(response: str, *, num_sentences: int, relation: Relation) -> bool:
    """Sentence count `relation` `num_sentences`.

    >>> number_sentences("Hi. Bye.", num_sentences=2, relation="at least")
    True
    """
    return compare(len(sentences(response)), relation, num_sentences)


@checker("zh:char_count", family="length", langs=("zh",))
def zh_char_count(response: str, *, num_chars: int, relation: Relation) -> bool:
    """Chinese-character count `relation` `num_chars` (不少于 = at least, 不超过 = at most).

    >>> zh_char_count("你好，世界。", num_chars=4, relation="at most")
    True
    """
    return compare(count_han(response), relation, num_chars)


@checker("zh:sentence_count", family="length", langs=("zh",))
def zh_sentence_count(response: str, *, num_sentences: int, relation: Relation) -> bool:
    """Sentences ended by 。！？ (a trailing fragment counts) `relation` `num_sentences`.

    >>> zh_sentence_count("天晴了。我们出门吧！", num_sentences=2, relation="exactly")
    True
    """
    parts = [p for p in re.split(r"[。！？!?]+[”’」』）]*", response) if p.strip()]
    return compare(len(parts), relation, num_sentences)


# --- structure (held out) --------------------------------------------------------------------

@checker("length_constraints:number_paragraphs", family="structure")
def number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly `num_paragraphs` non-empty paragraphs separated by the markdown divider `***`.

    >>> number_paragraphs("First.\\n***\\nSecond.", num_paragraphs=2)
    True
    >>> number_paragraphs("First.\\n***\\n\\n***\\nThird.", num_paragraphs=3)
    False
    """
    parts = re.split(r"\s?\*\*\*\s?", response)
    # An empty piece before the first or after the last divider is tolerated, not one between.
    if parts and not parts[0].strip():
        parts = parts[1:]
    if parts and not parts[-1].strip():
        parts = parts[:-1]
    return len(parts) == num_paragraphs and all(p.strip() for p in parts)


@checker("length_constraints:nth_paragraph_first_word", family="structure")
def nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    """Exactly `num_paragraphs` paragraphs (split by blank lines); paragraph `nth_paragraph`
    (1-based) starts with `first_word` (any case, quotes and markdown ignored).

    >>> nth_paragraph_first_word("Hi.\\n\\nSo it goes.", num_paragraphs=2, nth_paragraph=2, first_word="so")
    True
    >>> nth_paragraph_first_word("Hi.\\n\\nSolar power.", num_paragraphs=2, nth_paragraph=2, first_word="so")
    False
    """
    paras = paragraphs(response)
    if len(paras) != num_paragraphs or not 1 <= nth_paragraph <= len(paras):
        return False
    head = paras[nth_paragraph - 1].lstrip(" \"'“‘*#_").lower()
    target = first_word.strip().lower()
    if not head.startswith(target):
        return False
    rest = head[len(target):]
    return HAN_RE.search(target) is not None or not rest or not rest[0].isalnum()


@checker("detectable_content:number_placeholders", family="structure")
def number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least `num_placeholders` placeholders in square brackets, like [address].

    >>> number_placeholders("Dear [name], see you at [place].", num_placeholders=2)
    True
    """
    return len(re.findall(r"\[[^\[\]\n]+\]", response)) >= num_placeholders


@checker("detectable_format:number_highlighted_sections", family="structure")
def number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least `num_highlights` markdown highlights, *like this* or **like this**.

    >>> number_highlighted_sections("*One* and **two**.", num_highlights=2)
    True
    """
    bold = re.findall(r"\*\*([^\n*]+)\*\*", response)
    rest = re.sub(r"\*\*([^\n*]+)\*\*", " ", response)
    italic = re.findall(r"\*([^\n*]+)\*", rest)
    return sum(1 for h in bold + italic if h.strip()) >= num_highlights


@checker("detectable_format:multiple_sections", family="structure")
def multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least `num_sections` sections, each opened by `section_spliter` and a number
    ("Section 1", "SECTION 2", "第 3 部分" with spliter "第").

    >>> multiple_sections("Section 1\\nA.\\nSection 2\\nB.", section_spliter="Section", num_sections=2)
    True
    """
    parts = re.split(r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?", response)
    return len(parts) - 1 >= num_sections


# --- combination (held out) ------------------------------------------------------------------

@checker("combination:two_responses", family="combination")
def two_responses(response: str) -> bool:
    """Two different answers separated by six asterisks `******`.

    >>> two_responses("Yes.\\n******\\nNo."), two_responses("Yes.\\n******\\nYes.")
    (True, False)
    """
    parts = response.split("******")
    kept = []
    for i, part in enumerate(parts):
        if part.strip():
            kept.append(part.strip())
        elif 0 < i < len(parts) - 1:
            return False
    return len(kept) == 2 and kept[0] != kept[1]


@checker("combination:repeat_prompt", family="combination")
def repeat_prompt(response: str, *, prompt_to_repeat: str = "", prompt: str = "") -> bool:
    """The answer starts by repeating the request word for word (any case); without
    `prompt_to_repeat`, the prompt itself.

    >>> repeat_prompt("Name a fruit. Apple.", prompt_to_repeat="Name a fruit.")
    True
    """
    target = (prompt_to_repeat or prompt).strip().lower()
    return bool(target) and response.strip().lower().startswith(target)


@checker("detectable_format:constrained_response", family="combination")
def constrained_response(response: str) -> bool:
    """Contains one of the fixed replies "My answer is yes.", "My answer is no.",
    "My answer is maybe." (or 我的回答是：是。/ 否。/ 也许。).

    >>> constrained_response("My answer is no."), constrained_response("No.")
    (True, False)
    """
    options = ("My answer is yes.", "My answer is no.", "My answer is maybe.",
               "我的回答是：是。", "我的回答是：否。", "我的回答是：也许。")
    text = response.strip()
    return any(option in text for option in options)


# --- case (training) -------------------------------------------------------------------------

@checker("change_case:english_lowercase", family="case", langs=("en",))
def english_lowercase(response: str) -> bool:
    """English, and no capital letter anywhere.

    >>> english_lowercase("all of this is in lower case."), english_lowercase("Not this one.")
    (True, False)
    """
    return response.islower() and guess_language(response) == "en"


@checker("change_case:english_capital", family="case", langs=("en",))
def english_capital(response: str) -> bool:
    """English, and every letter a capital.

    >>> english_capital("THIS IS ALL IN CAPITALS."), english_capital("THIS IS Not.")
    (True, False)
    """
    return response.isupper() and guess_language(response) == "en"


@checker("change_case:capital_word_frequency", family="case", langs=("en",))
def capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: Relation) -> bool:
    """Words written in all capitals: `capital_relation` `capital_frequency`.

    >>> capital_word_frequency("Use the NEW key, not the OLD one.", capital_frequency=2, capital_relation="at least")
    True
    """
    return compare(sum(1 for w in words(response) if w.isupper()), capital_relation, capital_frequency)


# --- wrapping (training) ---------------------------------------------------------------------

@checker("detectable_format:json_format", family="wrapping")
def json_format(response: str) -> bool:
    """The whole answer is valid JSON (a ```json fence around it is allowed).

    >>> json_format('```json\\n{"a": 1}\\n```'), json_format("a: 1")
    (True, False)
    """
    text = response.strip()
    text = re.sub(r"^```(?:json|JSON|Json)?\s*", "", text)
    text = re.sub(r"\s*```$", "", text)
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@checker("detectable_format:title", family="wrapping")
def title(response: str) -> bool:
    """A title in double angular brackets, like <<my title>>.

    >>> title("<<Spring>>\\nBirds sing."), title("<< >>")
    (True, False)
    """
    return any(t.strip() for t in re.findall(r"<<([^\n]+?)>>", response))


@checker("zh:title_brackets", family="wrapping", langs=("zh",))
def zh_title_brackets(response: str) -> bool:
    """The first line is a title in 书名号 and nothing else, like 《春天》.

    >>> zh_title_brackets("《春天》\\n花开了。"), zh_title_brackets("春天\\n花开了。")
    (True, False)
    """
    first = next((line.strip() for line in response.splitlines() if line.strip()), "")
    return re.fullmatch(r"《[^《》\n]*[^\s《》][^《》\n]*》", first) is not None


@checker("startend:quotation", family="wrapping")
def quotation(response: str) -> bool:
    """The whole answer is wrapped in double quotation marks.

    >>> quotation('"All of it."'), quotation('"Half" of it.')
    (True, False)
    """
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


# --- start/end (training) --------------------------------------------------------------------

@checker("startend:end_checker", family="startend")
def end_checker(response: str, *, end_phrase: str) -> bool:
    """The answer ends with `end_phrase` (any case), nothing after it.

    >>> end_checker("Done. Any other questions?", end_phrase="Any other questions?")
    True
    """
    return response.strip().lower().endswith(end_phrase.strip().lower())


@checker("detectable_content:postscript", family="startend")
def postscript(response: str, *, postscript_marker: str) -> bool:
    """A line starts with the postscript marker (P.S., P.P.S, 附言：...).

    >>> postscript("Hi.\\n\\nP.S. Bring tea.", postscript_marker="P.S."), postscript("Hi.", postscript_marker="P.S.")
    (True, False)
    """
    # "P. S." and "p.s." are the same marker: spaces after a dot are optional, case is ignored.
    marker = r"\.\s?".join(re.escape(piece.strip()) for piece in postscript_marker.strip().split("."))
    return re.search(r"^\s*" + marker, response, flags=re.IGNORECASE | re.MULTILINE) is not None


# --- lists (training) ------------------------------------------------------------------------

@checker("detectable_format:number_bullet_lists", family="lists")
def number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly `num_bullets` markdown bullet points (lines starting with `* ` or `- `).

    >>> number_bullet_lists("* a\\n* b", num_bullets=2), number_bullet_lists("* a", num_bullets=2)
    (True, False)
    """
    return len(re.findall(r"^\s*[*-]\s+\S", response, flags=re.MULTILINE)) == num_bullets


# --- punctuation (training) ------------------------------------------------------------------

@checker("punctuation:no_comma", family="punctuation")
def no_comma(response: str) -> bool:
    """No comma ','.

    >>> no_comma("Short and clear."), no_comma("Yes, sir.")
    (True, False)
    """
    return "," not in response


@checker("zh:no_comma", family="punctuation", langs=("zh",))
def zh_no_comma(response: str) -> bool:
    """No comma of either width (，or ,).

    >>> zh_no_comma("今天下雨。我在家。"), zh_no_comma("今天下雨，我在家。")
    (True, False)
    """
    return "，" not in response and "," not in response


_HALF_WIDTH = re.compile(r"[,!?;:()]|(?<!\d)\.(?!\d)")


@checker("zh:fullwidth_punctuation", family="punctuation", langs=("zh",))
def zh_fullwidth_punctuation(response: str) -> bool:
    """Only full-width punctuation (，。！？；：（）); a dot inside a number (3.5) is fine.

    >>> zh_fullwidth_punctuation("好的，明天见。"), zh_fullwidth_punctuation("好的, 明天见.")
    (True, False)
    """
    return bool(re.search(r"[，。！？；：]", response)) and not _HALF_WIDTH.search(response)

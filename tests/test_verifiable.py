"""The checkers: every id passes a right answer and fails a wrong one; loose scoring; kwargs validation."""

from __future__ import annotations

import doctest

import pytest

import seedtune.verifiable as V
from seedtune.records import Record
from seedtune.verifiable import checkers, registry, scoring, text, wording

# id -> (kwargs, an answer that satisfies it, an answer that does not)
CASES: dict[str, tuple[dict, str, str]] = {
    "keywords:existence": ({"keywords": ["river", "bridge"]}, "The bridge spans the river.", "The bridges span rivers."),
    "keywords:frequency": ({"keyword": "green", "frequency": 2, "relation": "at least"}, "Green fields, green hills.", "Green fields."),
    "keywords:forbidden_words": ({"forbidden_words": ["very", "really"]}, "It is quite good.", "It is really good."),
    "keywords:letter_frequency": ({"letter": "z", "let_frequency": 2, "let_relation": "less than"}, "A lazy cat.", "Zany zebras."),
    "language:response_language": ({"language": "zh"}, "今天天气很好，我们去公园散步吧。", "The weather is nice today and we should walk."),
    "zh:no_latin": ({}, "今天天气很好。", "今天天气很好, OK。"),
    "length_constraints:number_words": ({"num_words": 5, "relation": "less than"}, "Short and sweet.", "This answer has far too many words."),
    "length_constraints:number_sentences": ({"num_sentences": 2, "relation": "at most"}, "One. Two.", "One. Two. Three."),
    "zh:char_count": ({"num_chars": 10, "relation": "at least"}, "今天我们一起去公园散步了。", "你好。"),
    "zh:sentence_count": ({"num_sentences": 3, "relation": "exactly"}, "天晴了。风停了！出门吗？", "天晴了。风停了。"),
    "length_constraints:number_paragraphs": ({"num_paragraphs": 3}, "One.\n***\nTwo.\n***\nThree.", "One.\n***\nTwo."),
    "length_constraints:nth_paragraph_first_word": ({"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "finally"},
                                                    "First we plan.\n\nFinally, we act.", "First we plan.\n\nThen we act."),
    "detectable_content:number_placeholders": ({"num_placeholders": 2}, "Meet [name] at [time].", "Meet [name] at noon."),
    "detectable_format:number_highlighted_sections": ({"num_highlights": 2}, "*Cheap* and **fast**.", "Cheap and *fast*."),
    "detectable_format:multiple_sections": ({"section_spliter": "Section", "num_sections": 2},
                                            "Section 1\nIntro.\nSection 2\nBody.", "Section 1\nIntro and body."),
    "combination:two_responses": ({}, "Tea.\n******\nCoffee.", "Tea. Or coffee."),
    "combination:repeat_prompt": ({"prompt_to_repeat": "Name a colour."}, "Name a colour. Blue.", "Blue."),
    "detectable_format:constrained_response": ({}, "My answer is maybe.", "Maybe."),
    "change_case:english_lowercase": ({}, "it is a quiet morning in the town.", "It is a quiet morning in the town."),
    "change_case:english_capital": ({}, "IT IS A QUIET MORNING IN THE TOWN.", "IT IS A quiet MORNING."),
    "change_case:capital_word_frequency": ({"capital_frequency": 2, "capital_relation": "at least"},
                                           "Do NOT touch the RED wire.", "Do NOT touch the red wire."),
    "detectable_format:json_format": ({}, '{"answer": "Paris"}', "answer: Paris"),
    "detectable_format:title": ({}, "<<Autumn>>\nLeaves fall.", "Autumn\nLeaves fall."),
    "zh:title_brackets": ({}, "《秋天》\n树叶落了。", "秋天\n树叶落了。"),
    "startend:quotation": ({}, '"Leaves fall in autumn."', "Leaves fall in autumn."),
    "startend:end_checker": ({"end_phrase": "Is there anything else?"}, "Done. Is there anything else?", "Is there anything else? Done."),
    "detectable_content:postscript": ({"postscript_marker": "P.S."}, "See you.\n\nP.S. Bring an umbrella.", "See you. Bring an umbrella."),
    "detectable_format:number_bullet_lists": ({"num_bullets": 3}, "* apples\n* pears\n- plums", "* apples\n* pears"),
    "punctuation:no_comma": ({}, "Apples and pears.", "Apples, pears."),
    "zh:no_comma": ({}, "苹果和梨。", "苹果，梨。"),
    "zh:fullwidth_punctuation": ({}, "苹果很甜，梨也不错。", "苹果很甜, 梨也不错."),
}


def test_cases_cover_every_registered_id():
    assert set(CASES) == set(V.CHECKERS)
    assert len(V.CHECKERS) >= 31
    # IFEval's 25 ids are all registered under their own spelling.
    assert sum(not cid.startswith("zh:") for cid in V.CHECKERS) == 25


@pytest.mark.parametrize("cid", sorted(CASES))
def test_checker_both_ways(cid):
    kwargs, good, bad = CASES[cid]
    c = V.make_constraint(cid, kwargs)
    assert V.check(good, c) is True, (cid, good)
    assert V.check(bad, c) is False, (cid, bad)


@pytest.mark.parametrize("module", [checkers, registry, scoring, text, wording, V])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_families_split_every_id():
    assert set(V.TRAINING_FAMILIES).isdisjoint(V.HELDOUT_FAMILIES)
    families = {V.family_of(cid) for cid in V.CHECKERS}
    assert families == set(V.FAMILIES)
    assert V.is_heldout("keywords:existence") and not V.is_heldout("detectable_format:json_format")
    assert V.ids_in(["lists"]) == ["detectable_format:number_bullet_lists"]


@pytest.mark.parametrize("cid", sorted(CASES))
def test_every_id_is_worded_in_both_languages(cid):
    c = V.make_constraint(cid, CASES[cid][0])
    en, zh = V.describe(c, "en"), V.describe(c, "zh")
    assert en and zh and en != zh and "{" not in en + zh


def test_loose_variants():
    c = V.Constraint("startend:quotation")
    assert V.loose_variants("a\nb\nc") == ["a\nb\nc", "b\nc", "a\nb", "b"]
    # first line removed
    assert not V.check('Sure:\n"Quoted."', c) and V.check_loose('Sure:\n"Quoted."', c)
    # last line removed
    assert V.check_loose('"Quoted."\nHope it helps', c)
    # both removed
    assert V.check_loose('Sure:\n"Quoted."\nHope it helps', c)
    # markdown * removed
    j = V.Constraint("detectable_format:json_format")
    assert not V.check('**{"a": 1}**', j) and V.check_loose('**{"a": 1}**', j)
    # no variant helps an answer that is wrong throughout
    assert not V.check_loose("Sure:\nnot quoted\nbye", c)


def test_score_prompt_and_instruction_level():
    cs = [V.Constraint("punctuation:no_comma"), V.Constraint("detectable_format:title")]
    v = V.score("<<T>>\nNo commas here", cs)
    assert v.strict == [True, True] and v.prompt_strict
    v = V.score("Intro, sorry\n<<T>>", cs)
    assert v.strict == [False, True] and not v.prompt_strict
    assert v.loose == [True, True] and v.prompt_loose  # the first line with the comma is forgiven


def test_repeat_prompt_falls_back_to_prompt():
    c = V.Constraint("combination:repeat_prompt")
    assert V.check("Say hi. Hi!", c, prompt="Say hi.")
    assert not V.check("Hi!", c, prompt="Say hi.")
    assert not V.check("Hi!", c)  # nothing to repeat: not satisfied


def test_make_constraint_validates():
    assert V.make_constraint("length_constraints:number_words",
                             {"num_words": 3.0, "relation": "at least", "keywords": None}).kwargs == {"num_words": 3, "relation": "at least"}
    with pytest.raises(V.ConstraintError) as err:
        V.make_constraint("length_constraints:number_words", {"num_words": "3", "relation": "at least"})
    assert err.value.field == "kwargs.num_words"
    with pytest.raises(V.ConstraintError) as err:
        V.make_constraint("length_constraints:number_words", {"num_words": 3, "relation": "around"})
    assert err.value.field == "kwargs.relation"
    with pytest.raises(V.ConstraintError) as err:
        V.make_constraint("length_constraints:number_words", {"num_words": 3})
    assert err.value.field == "kwargs.relation"
    with pytest.raises(V.ConstraintError) as err:
        V.make_constraint("punctuation:no_comma", {"letter": "a"})
    assert err.value.field == "kwargs.letter"
    with pytest.raises(V.ConstraintError) as err:
        V.make_constraint("no:such_id")
    assert err.value.field == "instruction_id_list"
    with pytest.raises(V.ConstraintError):
        V.make_constraint("keywords:existence", {"keywords": "river"})


def test_constraints_of_record_round_trip():
    cs = [V.make_constraint("punctuation:no_comma"), V.make_constraint("startend:end_checker", {"end_phrase": "Bye."})]
    verdict = V.score("Hello. Bye.", cs)
    rec = Record(instruction="Greet me.", output="Hello. Bye.", meta=V.constraints_meta(cs, verdict))
    assert V.constraints_of(rec) == cs
    assert V.constraints_of(rec.to_dict()) == cs
    assert rec.meta["checks"] == [True, True]
    assert V.constraints_of(Record(instruction="x")) == []


@pytest.mark.parametrize("text_, lang", [
    ("The weather is lovely and the children are playing in the park.", "en"),
    ("Le chat est sur la table et il dort dans le salon.", "fr"),
    ("Der Hund ist nicht im Garten und die Katze schläft.", "de"),
    ("El perro está en la casa y la niña juega con el gato.", "es"),
    ("Собака спит на диване, и это все, что он делает.", "ru"),
    ("猫在桌子上睡觉。", "zh"), ("猫はテーブルの上で寝ています。", "ja"), ("고양이가 잔다.", "ko"),
])
def test_guess_language(text_, lang):
    assert text.guess_language(text_) == lang


def test_sentence_splitting_respects_abbreviations_and_decimals():
    assert len(text.sentences("Dr. Smith paid 3.50 dollars, e.g. for tea. Then he left!")) == 2
    assert len(text.sentences("No end mark here")) == 1
    assert text.sentences("") == []

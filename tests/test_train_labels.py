"""Label building: the prompt is never trained, the end token always is (even when pad == eos)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedtune.train.tokenize import (
    IGNORE, Example, Specials, build_example, check_examples, fit_length, tokenize_pairs,
)

ids = st.lists(st.integers(min_value=0, max_value=500), max_size=40)


@settings(max_examples=200, deadline=None)
@given(prompt=ids, target=ids, end=st.integers(0, 500))
def test_build_example_masks_prompt_and_trains_end(prompt, target, end):
    ex = build_example(prompt, target, end)
    assert ex.input_ids == [*prompt, *target, end]
    assert ex.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert ex.labels[len(prompt):] == [*target, end]  # end trained even when it equals a pad id
    assert check_examples([ex], end, [prompt]).ok


@settings(max_examples=200, deadline=None)
@given(prompt=st.lists(st.integers(0, 500), min_size=1, max_size=60), target=ids, max_len=st.integers(2, 80))
def test_length_policy_never_cuts_the_answer(prompt, target, max_len):
    ex = build_example(prompt, target, 7)
    dropped = fit_length(ex, max_len, "drop")
    assert (dropped is None) == (len(ex) > max_len)
    cut = fit_length(ex, max_len, "truncate-prompt-left")
    if cut is None:
        assert len(target) + 1 > max_len - 1
    else:
        assert len(cut) <= max_len
        assert cut.labels[cut.prompt_len:] == [*target, 7]  # the answer survives whole
        assert cut.input_ids == ex.input_ids[len(ex) - len(cut):]
        assert check_examples([cut], 7).ok


def test_check_reports_each_broken_invariant():
    good = build_example([1, 2], [3], 9)
    leaked = Example(input_ids=[1, 2, 3, 9], labels=[1, IGNORE, 3, 9], prompt_len=2)
    no_end = Example(input_ids=[1, 2, 3, 9], labels=[IGNORE, IGNORE, 3, IGNORE], prompt_len=2)
    empty = Example(input_ids=[1, 2], labels=[IGNORE, IGNORE], prompt_len=2)
    rep = check_examples([good, leaked, no_end, empty], 9, [[1, 2], [1, 2], [1, 2], [5]])
    assert not rep.ok
    assert not rep.prompt_never_trained and not rep.end_token_trained and not rep.every_row_trained
    assert not rep.prompt_is_prefix
    assert check_examples([good], 9).ok


@pytest.mark.parametrize("pad_is_eos", [False, True])
def test_tokenize_pairs_with_real_tokenizer(pad_is_eos):
    from seedtune.prompts.formats import for_model
    from seedtune.records import Record
    from seedtune.testing import tiny_tokenizer

    tok = tiny_tokenizer(pad_is_eos=pad_is_eos)
    if pad_is_eos:
        tok.pad_token = tok.eos_token  # SmolLM2-style: pad, eos and end-of-turn are one token
    fmt = for_model(tok, "auto")
    specials = Specials.from_tokenizer(tok, fmt.stop)
    assert specials.end_id == tok.convert_tokens_to_ids("<|im_end|>")
    if pad_is_eos:
        assert tok.pad_token_id == specials.end_id  # the trap: pad == eos, yet eos must be trained
    recs = [Record(instruction="Translate to French.", input="I like apples.", output="J'aime les pommes."),
            Record(instruction="Say nothing.", output=""),
            Record(instruction="Summarize " * 50, output="Short.")]
    examples, report = tokenize_pairs(tok, [fmt.render(r) for r in recs], specials, max_length=64)
    assert report.dropped_empty_target == 1 and report.dropped_too_long == 1 and report.rows_kept == 1
    ex = examples[0]
    assert ex.labels[-1] == specials.end_id and ex.input_ids[-1] == specials.end_id
    prompt, target = fmt.render(recs[0])
    assert tok.decode([i for i in ex.labels if i != IGNORE]) == target + "<|im_end|>"
    assert tok.decode(ex.input_ids[: ex.prompt_len]) == prompt
    kept, report = tokenize_pairs(tok, [fmt.render(recs[2])], specials, max_length=64, truncation="truncate-prompt-left")
    assert report.truncated == 1 and len(kept[0]) == 64
    assert tok.decode([i for i in kept[0].labels if i != IGNORE]) == "Short.<|im_end|>"


def test_alpaca_format_adds_bos_prefix_once():
    from seedtune.prompts.formats import AlpacaFormat
    from seedtune.records import Record
    from transformers import AutoTokenizer

    from seedtune.testing import tiny_tokenizer

    tok = tiny_tokenizer(chat_template=False)
    tok.add_bos_token = True
    specials = Specials.from_tokenizer(tok, AlpacaFormat().stop)
    assert specials.end_id == tok.eos_token_id
    ex, _ = tokenize_pairs(tok, [AlpacaFormat().render(Record(instruction="Hi", output="Hello"))], specials, 128)
    assert ex[0].input_ids.count(tok.bos_token_id) == len(specials.prefix)
    del AutoTokenizer


# -- conversations trained on every assistant turn --------------------------------------------------

CONVERSATION = [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "An apple."},
                {"role": "user", "content": "Another one?"}, {"role": "assistant", "content": "A pear."}]


def _trained_text(tokenizer, ex) -> list[str]:
    """The decoded trained stretches of one example."""
    return [tokenizer.decode([t for t in ex.labels[a:b]]) for a, b in ex.trained_spans]


def test_turns_example_trains_every_answer_and_nothing_else():
    from seedtune.train.tokenize import build_turns_example

    ex = build_turns_example([([1, 2], [10, 11]), ([3], [12])], end_id=99)
    assert ex.input_ids == [1, 2, 10, 11, 99, 3, 12, 99]
    assert ex.labels == [IGNORE, IGNORE, 10, 11, 99, IGNORE, 12, 99]
    assert check_examples([ex], 99, [[1, 2]]).ok
    leaked = Example(ex.input_ids, [*ex.labels[:5], 3, *ex.labels[6:]], ex.prompt_len, spans=ex.spans)
    assert "a prompt token is trained" in check_examples([leaked], 99).failures[0]
    unended = Example(ex.input_ids, [*ex.labels[:4], IGNORE, *ex.labels[5:]], ex.prompt_len, spans=ex.spans)
    assert not check_examples([unended], 99).end_token_trained


@pytest.mark.parametrize("all_turns", [True, False])
def test_chat_conversation_labels_on_all_assistant_turns(all_turns):
    from seedtune.prompts.formats import for_model
    from seedtune.records import Record
    from seedtune.testing import tiny_tokenizer
    from seedtune.train.data import prepare

    tokenizer = tiny_tokenizer()
    fmt = for_model(tokenizer)
    record = Record(instruction="", messages=CONVERSATION)
    data = prepare([record], [], fmt, tokenizer, 256, "drop", all_turns=all_turns)
    assert data.checks.ok and len(data.train) == 1
    ex = data.train[0]
    trained = _trained_text(tokenizer, ex)
    if all_turns:
        assert trained == ["An apple.<|im_end|>", "A pear.<|im_end|>"] and data.conversations == 1
    else:
        assert trained == ["A pear.<|im_end|>"]
    # What the model sees is exactly the template's rendering of the whole conversation.
    assert tokenizer.decode(ex.input_ids) == fmt.render_messages(CONVERSATION, add_generation_prompt=False).rstrip("\n")
    assert "Another one?" not in "".join(trained) and "Name a fruit." not in "".join(trained)


def test_alpaca_conversation_becomes_one_row_per_answer():
    from seedtune.prompts.formats import AlpacaFormat
    from seedtune.records import Record
    from seedtune.testing import tiny_tokenizer
    from seedtune.train.data import prepare

    tokenizer = tiny_tokenizer(chat_template=False)
    data = prepare([Record(instruction="", messages=CONVERSATION)], [], AlpacaFormat(), tokenizer, 256, "drop")
    assert data.checks.ok
    assert [tokenizer.decode(ex.labels[ex.prompt_len:-1]) for ex in data.train] == ["An apple.", "A pear."]


def test_long_conversation_loses_its_earliest_whole_answers():
    from seedtune.train.tokenize import build_turns_example

    ex = build_turns_example([([1, 2, 3], [10, 11]), ([4], [12, 13])], end_id=99)
    assert fit_length(ex, 6, "drop") is None
    cut = fit_length(ex, 6, "truncate-prompt-left")  # the first answer is cut into: masked, not half-trained
    assert cut.input_ids == [11, 99, 4, 12, 13, 99] and cut.labels == [IGNORE, IGNORE, IGNORE, 12, 13, 99]
    assert check_examples([cut], 99).ok
    assert fit_length(ex, 3, "truncate-prompt-left") is None

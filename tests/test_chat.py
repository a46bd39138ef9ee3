"""ChatSession, slash commands, multi-line input and the REPL loop, without a terminal."""

from __future__ import annotations

import pytest

from seedtune.chat import HELP, ChatSession, read_message, repl, run_command
from seedtune.teachers import Request, ScriptedTeacher
from seedtune.teachers.transformers import HFTeacher


class _StreamingScript(ScriptedTeacher):
    """A scripted teacher that streams its reply word by word, like HFTeacher.stream."""

    def stream(self, request: Request):
        text = self.generate([request])[0].text
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word + (" " if i < len(words) - 1 else "")


@pytest.fixture
def teacher():
    return _StreamingScript(default=lambda r: f"reply to {r.messages[-1][1]}")


def test_send_streams_pieces_and_records_the_exchange(teacher):
    session = ChatSession(teacher, system="be kind", max_tokens=7, temperature=0.0, seed=3)
    pieces = list(session.send("hello there"))
    assert pieces == ["reply ", "to ", "hello ", "there"]
    assert session.history == [{"role": "user", "content": "hello there"},
                               {"role": "assistant", "content": "reply to hello there"}]
    request = teacher.seen[-1]
    assert request.messages == (("system", "be kind"), ("user", "hello there"))
    assert (request.max_tokens, request.temperature, request.seed) == (7, 0.0, 3)


def test_multi_turn_sends_the_whole_conversation(teacher):
    session = ChatSession(teacher)
    list(session.send("one"))
    list(session.send("two"))
    assert teacher.seen[-1].messages == (("user", "one"), ("assistant", "reply to one"), ("user", "two"))


@pytest.mark.parametrize("fmt, keeps", [
    ("alpaca", False), ("alpaca-trained-on-conversations", True), ("chat-single-turn", False), ("chat-unknown", True)])
def test_history_is_sent_only_to_a_model_that_learnt_conversations(fmt, keeps):
    from seedtune.prompts.formats import AlpacaFormat, ChatTemplateFormat
    from seedtune.testing import CHATML_TEMPLATE

    formats = {"alpaca": AlpacaFormat(), "alpaca-trained-on-conversations": AlpacaFormat(conversations=True),
               "chat-single-turn": ChatTemplateFormat(template=CHATML_TEMPLATE, conversations=False),
               "chat-unknown": ChatTemplateFormat(template=CHATML_TEMPLATE)}
    teacher = _StreamingScript(default=lambda r: f"reply to {r.messages[-1][1]}")
    teacher.prompt_format = formats[fmt]
    session = ChatSession(teacher)
    list(session.send("Je vous aime."))
    list(session.send("用一句话介绍一下长城。"))
    assert session.keeps_history is keeps
    expected = 3 if keeps else 1
    assert len(teacher.seen[-1].messages) == expected and teacher.seen[-1].messages[-1][1] == "用一句话介绍一下长城。"
    forced = ChatSession(teacher, history=True)
    assert forced.keeps_history


def test_the_flag_survives_saving(tmp_path):
    from seedtune.prompts.formats import AlpacaFormat, load_format, save_format

    save_format(AlpacaFormat(conversations=False), tmp_path)
    assert load_format(tmp_path).conversations is False


def test_reset_and_system(teacher):
    session = ChatSession(teacher)
    list(session.send("one"))
    assert run_command(session, "/system   Talk like a pirate ").message == "(system prompt set: Talk like a pirate)"
    list(session.send("two"))
    assert teacher.seen[-1].messages[0] == ("system", "Talk like a pirate")
    assert len(teacher.seen[-1].messages) == 4  # /system keeps the history
    assert run_command(session, "/reset").message == "(conversation cleared)"
    assert session.history == [] and session.system == "Talk like a pirate"  # /reset keeps the system prompt
    list(session.send("three"))
    assert teacher.seen[-1].messages == (("system", "Talk like a pirate"), ("user", "three"))
    assert run_command(session, "/system").message == "(system prompt cleared)"
    assert session.messages("x")[0] == {"role": "user", "content": "three"} and session.messages("x")[-1]["content"] == "x"


def test_commands():
    session = ChatSession(ScriptedTeacher())
    assert run_command(session, "/exit").exit and run_command(session, "/quit").exit
    assert run_command(session, "/help").message == HELP
    assert "unknown command /frobnicate" in run_command(session, "/frobnicate").message
    assert run_command(session, "hello") is None
    assert run_command(session, "//etc/hosts is a file") is None  # escaped slash: a message


def test_an_interrupted_answer_is_kept_as_far_as_it_went(teacher):
    session = ChatSession(teacher)
    stream = session.send("abc def")
    assert next(stream) == "reply "
    stream.close()  # what Ctrl-C does to the generator
    assert session.history[-1] == {"role": "assistant", "content": "reply "}


def _reader(lines):
    it = iter(lines)
    prompts = []

    def read(prompt):
        prompts.append(prompt)
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read, prompts


def test_read_message_backslash_continuation():
    read, prompts = _reader(["first \\", "second\\", "third", "next"])
    assert read_message(read) == "first \nsecond\nthird"
    assert prompts == ["you> ", "...> ", "...> "]


def test_read_message_triple_quote_block():
    read, _ = _reader(['"""', "line one", "", "  indented \\", '"""'])
    assert read_message(read) == "line one\n\n  indented \\"  # backslashes inside a block are literal


def test_read_message_eof():
    read, _ = _reader([])
    with pytest.raises(EOFError):
        read_message(read)
    read, _ = _reader(['"""', "unfinished"])
    with pytest.raises(EOFError):
        read_message(read)


def test_repl_drives_a_conversation(teacher):
    session = ChatSession(teacher)
    out: list[str] = []
    read, _ = _reader(["hi", "/system be terse", "multi \\", "line", "", "//slash", "/reset", "again", "/exit", "never"])
    repl(session, read, out.append, banner="welcome")
    text = "".join(out)
    assert text.startswith("welcome\n")
    assert "reply to hi\n\n" in text and "(system prompt set: be terse)\n" in text
    assert "reply to multi \nline" in text and "reply to /slash" in text
    assert [m for m in teacher.seen[-1].messages] == [("system", "be terse"), ("user", "again")]
    assert len(teacher.seen) == 4  # the empty line sent nothing, /exit stopped before "never"


def test_repl_ends_on_eof(teacher):
    out: list[str] = []
    read, _ = _reader(["hi"])
    repl(ChatSession(teacher), read, out.append)
    assert out[-1] == "\n"


def test_long_conversations_drop_the_oldest_exchanges_to_fit(tiny_model_dir):
    teacher = HFTeacher(str(tiny_model_dir), batch_size=1)
    session = ChatSession(teacher, system="sys", max_tokens=8, temperature=0.0, context_length=120)
    for i in range(6):
        list(session.send(f"message number {i} " + "apples " * 8))
    assert session.dropped > 0
    assert session.history[-2]["content"].startswith("message number 5")
    request = session.request("last")
    text, special = teacher.render(request)
    assert len(teacher.tokenizer(text, add_special_tokens=special)["input_ids"]) + request.max_tokens <= 120
    assert request.messages[0] == ("system", "sys")  # the system prompt survives


def test_real_model_streams_in_its_prompt_format(tiny_model_dir):
    session = ChatSession.load(str(tiny_model_dir), max_tokens=12, temperature=1.0, seed=4)
    pieces = list(session.send("Translate to French: I like apples."))
    assert len(pieces) > 1 and "".join(pieces).strip()
    # Same answer as a one-shot generate with the same format and seed: chat shows what eval measures.
    expected = session.teacher.generate([Request.chat([{"role": "user", "content": "Translate to French: I like apples."}],
                                                      max_tokens=12, temperature=1.0, seed=4)])[0].text
    assert "".join(pieces) == expected

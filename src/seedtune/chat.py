"""Interactive chat with a model: the conversation, the slash commands, multi-line input, the loop.

`ChatSession` holds the conversation and streams each answer (`send(text) -> Iterator[str]`);
the model renders it with its saved prompt format, the one it was trained with (through
`HFTeacher`), so what you see in chat is what eval measured. `repl(session, read, write)` is the
terminal program `seedtune chat` runs; it takes its input and output as functions so tests can
drive it without a terminal, and the real program is tested through a pseudo-terminal too.

When the conversation grows past the model's context, the oldest exchanges are dropped (the
system prompt is kept) and the user is told once per drop — rather than failing mid-chat. A model
trained without conversations answers each message on its own (its history is not sent), unless
the user asks for the history; the banner says which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from seedtune.teachers.base import Request, Teacher

HELP = """commands:
  /reset          forget the conversation (the system prompt stays)
  /system TEXT    set the system prompt (/system alone clears it)
  /help           show this help
  /exit           leave (Ctrl-D too)
input:
  end a line with \\ to continue on the next line
  a line holding only \"\"\" starts and ends a multi-line block
  start a message with // to send a text that begins with /"""


class ChatSession:
    """A conversation with one model; `send` streams the answer and then records it in the history."""

    def __init__(self, teacher: Teacher, system: str | None = None, max_tokens: int = 256, temperature: float = 0.7,
                 top_p: float = 1.0, seed: int | None = None, context_length: int | None = None,
                 history: bool | None = None):
        self.teacher = teacher
        # Earlier turns are sent only to a model that learnt to read them (see `knows_conversations`);
        # a single-turn model shown a history tends to answer the first message again.
        if history is None:
            from seedtune.prompts.formats import knows_conversations

            fmt = getattr(teacher, "prompt_format", None)
            history = knows_conversations(fmt) if fmt is not None else True
        self.keeps_history = history
        self.system = system or None
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        config = getattr(getattr(teacher, "model", None), "config", None)
        self.context_length = context_length or getattr(config, "max_position_embeddings", None)
        self.history: list[dict[str, str]] = []
        self.dropped = 0  # exchanges dropped so far to fit the context

    @classmethod
    def load(cls, model: str, dtype: str | None = None, **kwargs: Any) -> "ChatSession":
        """A session on a model directory or embedded default name (loads it with HFTeacher)."""
        from seedtune.teachers.transformers import HFTeacher

        return cls(HFTeacher(model, batch_size=1, dtype=dtype), **kwargs)

    def messages(self, user_text: str | None = None) -> list[dict[str, str]]:
        """System prompt + history (+ the new user message): what the model is shown."""
        msgs = ([{"role": "system", "content": self.system}] if self.system else []) + list(self.history)
        if user_text is not None:
            msgs.append({"role": "user", "content": user_text})
        return msgs

    def reset(self) -> None:
        self.history.clear()
        self.dropped = 0

    def set_system(self, text: str | None) -> None:
        self.system = text.strip() if text and text.strip() else None

    def request(self, text: str) -> Request:
        """The request for the next answer, with the oldest exchanges dropped until it fits the context."""
        while True:
            request = Request.chat(self.messages(text), max_tokens=self.max_tokens, temperature=self.temperature,
                                   top_p=self.top_p, seed=self.seed)
            room = self._room(request)
            if room is None or room >= self.max_tokens or not self.history:
                break
            # Drop the oldest exchange (user + assistant): the newest turns matter most to the answer.
            del self.history[:2]
            self.dropped += 1
        if room is not None and room < self.max_tokens:
            request = dataclasses.replace(request, max_tokens=max(1, room))
        return request

    def _room(self, request: Request) -> int | None:
        render, tokenizer = getattr(self.teacher, "render", None), getattr(self.teacher, "tokenizer", None)
        if self.context_length is None or render is None or tokenizer is None:
            return None
        text, special = render(request)
        return self.context_length - len(tokenizer(text, add_special_tokens=special)["input_ids"])

    def send(self, text: str) -> Iterator[str]:
        """Stream the answer to `text`. The exchange joins the history when the stream ends or is
        interrupted (a partial answer is kept as said, so the next turn sees what the user saw)."""
        request = self.request(text)
        reply: list[str] = []
        try:
            stream = getattr(self.teacher, "stream", None)
            pieces = stream(request) if stream is not None else iter([self.teacher.generate([request])[0].text])
            for piece in pieces:
                reply.append(piece)
                yield piece
        finally:
            if self.keeps_history:
                self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": "".join(reply)}]


@dataclass
class Command:
    """What a slash command asks the loop to do: print `message`, and leave when `exit`."""

    message: str = ""
    exit: bool = False


def run_command(session: ChatSession, line: str) -> Command | None:
    """Execute `line` if it is a slash command; None when it is a message to send."""
    stripped = line.strip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    name, _, arg = stripped.partition(" ")
    name = name.lower()
    if name in ("/exit", "/quit"):
        return Command(exit=True)
    if name == "/reset":
        session.reset()
        return Command("(conversation cleared)")
    if name == "/system":
        session.set_system(arg)
        return Command(f"(system prompt set: {session.system})" if session.system else "(system prompt cleared)")
    if name in ("/help", "/?"):
        return Command(HELP)
    return Command(f"unknown command {name}; /help lists the commands")


def read_message(read: Callable[[str], str], prompt: str = "you> ", more: str = "...> ") -> str:
    """One message from the user: lines ending in a backslash continue; a line of three double quotes
    opens a block that the next such line closes. Raises EOFError at end of input (Ctrl-D).

    A `//` at the start escapes a leading slash: "//etc" sends "/etc" instead of running a command.
    """
    first = read(prompt)
    if first.strip() == '"""':
        lines = []
        while True:
            line = read(more)
            if line.strip() == '"""':
                return "\n".join(lines)
            lines.append(line)
    lines = [first]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(read(more))
    return "\n".join(lines)


def repl(session: ChatSession, read: Callable[[str], str] = input, write: Callable[[str], None] | None = None,
         banner: str = "") -> None:
    """The chat loop: read a message or command, stream the answer, repeat until /exit or Ctrl-D.

    Ctrl-C while the model answers stops that answer; Ctrl-C at the prompt discards the line.
    """
    if write is None:
        import sys

        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

    if banner:
        write(banner + "\n")
    while True:
        try:
            text = read_message(read)
        except EOFError:
            write("\n")
            return
        except KeyboardInterrupt:
            write("\n")
            continue
        command = run_command(session, text)
        if command is not None:
            if command.exit:
                return
            write(command.message + "\n")
            continue
        if text.lstrip().startswith("//"):
            text = text.lstrip()[1:]
        if not text.strip():
            continue
        dropped = session.dropped
        try:
            for piece in session.send(text):
                write(piece)
        except KeyboardInterrupt:
            write(" [stopped]")
        write("\n\n")
        if session.dropped > dropped:
            write(f"(the conversation outgrew the model's context: dropped the oldest "
                  f"{session.dropped - dropped} exchange(s); /reset starts afresh)\n")

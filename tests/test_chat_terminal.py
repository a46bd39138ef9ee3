"""The real `seedtune chat` program in a pseudo-terminal (pexpect): what a user types and sees.

Each answer is compared with what an in-process ChatSession answers to the same conversation
with the same seed, so the terminal shows the model's actual multi-turn replies.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

from seedtune.chat import ChatSession, run_command  # noqa: E402

ARGS = ["--max-tokens", "10", "--temperature", "1.0", "--seed", "4"]


def _command() -> list[str]:
    script = Path(sys.executable).parent / "seedtune"
    return [str(script)] if script.exists() else [shutil.which("seedtune") or "seedtune"]


def _spawn(model_dir: Path):
    cmd = _command()
    child = pexpect.spawn(cmd[0], [*cmd[1:], "chat", str(model_dir), *ARGS], encoding="utf-8", timeout=180,
                          dimensions=(40, 200), env={**__import__("os").environ, "TERM": "dumb"})
    child.expect_exact("/help for commands")
    child.expect_exact("you> ")
    return child


def _shown(text: str) -> str:
    return text.replace("\n", "\r\n")  # the terminal turns each newline into CR LF


def test_chat_in_a_terminal(tiny_model_dir):
    mirror = ChatSession.load(str(tiny_model_dir), max_tokens=10, temperature=1.0, seed=4)
    child = _spawn(tiny_model_dir)
    try:
        child.sendline("Translate to French: I like apples.")
        first = "".join(mirror.send("Translate to French: I like apples."))
        assert first.strip()
        child.expect_exact(_shown(first) + "\r\n\r\nyou> ")

        child.sendline("/system Answer in French.")
        child.expect_exact("(system prompt set: Answer in French.)")
        run_command(mirror, "/system Answer in French.")
        child.expect_exact("you> ")

        # Multi-line input: a trailing backslash continues; the second turn sees the first.
        child.sendline("And pears? \\")
        child.expect_exact("...> ")
        child.sendline("Also plums.")
        second = "".join(mirror.send("And pears? \nAlso plums."))
        child.expect_exact(_shown(second) + "\r\n\r\nyou> ")

        child.sendline("/reset")
        child.expect_exact("(conversation cleared)")
        run_command(mirror, "/reset")
        child.expect_exact("you> ")
        child.sendline("hello")
        third = "".join(mirror.send("hello"))
        child.expect_exact(_shown(third) + "\r\n\r\nyou> ")

        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_chat_block_input_and_ctrl_d(tiny_model_dir):
    child = _spawn(tiny_model_dir)
    try:
        child.sendline("/help")
        child.expect_exact("/reset")
        child.expect_exact("you> ")
        child.sendline('"""')
        child.expect_exact("...> ")
        child.sendline("first line")
        child.expect_exact("...> ")
        child.sendline('"""')
        child.expect_exact("you> ")  # answered, back at the prompt
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0

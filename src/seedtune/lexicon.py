"""Heuristic vocabulary shared by generation and curation, one copy each.

Lists and small text functions that decide "is this a refusal", "does this task need an image
or a file", and how an instruction and its input are shown as one text. Generation filters its
teacher's output with them; curation filters records with the same ones, so a record that
passed generation is judged by the same words in curation.
"""

from __future__ import annotations


def join_instruction(instruction: str, input: str = "") -> str:
    """An instruction and its input as one user message: a blank line between, no input no gap."""
    return instruction if not input else f"{instruction}\n\n{input}"

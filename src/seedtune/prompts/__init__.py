"""Prompt formats: how a record becomes (prompt, target) text for training and inference.

The format a model was trained with is saved beside it (`prompt_format.json`) and loaded back by
eval, chat and serve, so training and inference never disagree.
"""

from seedtune.prompts.formats import (
    AlpacaFormat,
    ChatTemplateFormat,
    JinjaFormat,
    PromptFormat,
    load_format,
    render_sandboxed,
    save_format,
)

__all__ = [
    "AlpacaFormat",
    "ChatTemplateFormat",
    "JinjaFormat",
    "PromptFormat",
    "load_format",
    "render_sandboxed",
    "save_format",
]

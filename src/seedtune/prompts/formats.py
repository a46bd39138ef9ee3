"""The three prompt formats: Alpaca-style sections, the model's own chat template, custom Jinja.

`render(record) -> (prompt, target)`: the prompt is everything the model sees before it answers,
the target is what it should produce (without EOS: the trainer appends the tokenizer's EOS id).
Chat templates and custom templates are rendered in Jinja's immutable sandbox, so a template in
a downloaded model directory cannot touch Python objects or the file system.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from seedtune.errors import ConfigError, SeedtuneError
from seedtune.records import Record

FORMAT_FILE = "prompt_format.json"


@lru_cache(maxsize=1)
def _sandbox():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise SeedtuneError(f"chat template raised: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda obj, **kw: json.dumps(obj, ensure_ascii=False, **kw)
    return env


def render_sandboxed(template: str, **context: Any) -> str:
    """Render a Jinja template in the immutable sandbox."""
    from jinja2 import TemplateError

    try:
        return _sandbox().from_string(template).render(**context)
    except TemplateError as exc:
        raise SeedtuneError(f"template failed to render: {exc}", hint="check the Jinja syntax of the template") from exc


@dataclass
class PromptFormat:
    """Base class: subclasses set `type` and implement `render_prompt`."""

    type: ClassVar[str] = "base"
    # Text the model emits to end its answer, besides the tokenizer's EOS (e.g. "<end_of_turn>").
    stop: list[str] = field(default_factory=list)
    # Whether the model was trained on multi-turn conversations (set by training; None: unknown,
    # e.g. a model seedtune did not train). Chat sends earlier turns only to a model that learnt them.
    conversations: bool | None = None

    def render_prompt(self, record: Record) -> str:
        raise NotImplementedError

    def render(self, record: Record) -> tuple[str, str]:
        """(prompt, target) for one record; for multi-turn records the target is the last answer."""
        return self.render_prompt(record), _target(record)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


def assistant_prefixes(record: Record) -> list[Record]:
    """A conversation cut after each of its assistant turns: one record per answer, with its history."""
    if not record.messages:
        return [record]
    turns = [m.model_dump() for m in record.messages]
    return [record.with_(messages=turns[: i + 1], id=record.id) for i, m in enumerate(turns) if m["role"] == "assistant"]


def _target(record: Record) -> str:
    if record.messages:
        last = record.messages[-1]
        return last.content if last.role == "assistant" else ""
    return record.output


def _context_messages(record: Record) -> list[dict[str, str]]:
    """The conversation up to (not including) the answer the model must give."""
    msgs = record.conversation()
    if msgs and msgs[-1]["role"] == "assistant":
        msgs = msgs[:-1]
    return msgs


@dataclass
class AlpacaFormat(PromptFormat):
    """Markdown-sectioned prompt in the Alpaca layout, with and without an input section.

    Earlier turns of a multi-turn record are folded into the instruction section.
    """

    type: ClassVar[str] = "alpaca"
    preamble: str = "Complete the task described by the instruction below."
    preamble_with_input: str = "Complete the task described by the instruction below, using the input that follows it."

    def render_prompt(self, record: Record) -> str:
        instruction, extra = record.instruction, record.input
        if record.messages:
            msgs = _context_messages(record)
            turns = [m for m in msgs if m["role"] != "system"]
            instruction = turns[-1]["content"] if turns else ""
            history = "\n".join(f"{m['role']}: {m['content']}" for m in turns[:-1])
            extra = history
        parts = []
        if record.system:
            parts.append(record.system.strip())
        if extra:
            parts.append(self.preamble_with_input)
            parts.append(f"### Instruction:\n{instruction.strip()}")
            parts.append(f"### Input:\n{extra.strip()}")
        else:
            parts.append(self.preamble)
            parts.append(f"### Instruction:\n{instruction.strip()}")
        parts.append("### Response:\n")
        return "\n\n".join(parts)


    def chat_template(self) -> str:
        """This format as a Jinja chat template over `messages` (for GGUF files and servers that
        prompt from one). A system message comes first, earlier turns go to the Input section and
        the last user turn is the instruction, exactly as `render_prompt` lays out a chat record."""
        quote = lambda text: text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")  # noqa: E731
        return (_ALPACA_JINJA.replace("PREAMBLE_WITH_INPUT", quote(self.preamble_with_input))
                .replace("PREAMBLE", quote(self.preamble)))

    def stop_strings(self) -> list[str]:
        # A model that misses its EOS tends to start the next section itself.
        return [*self.stop, "### Instruction:"]


# Every piece of text is an expression, so the `-` whitespace trimming around tags (which keeps
# the template readable) never eats a newline of the prompt.
_ALPACA_JINJA = (
    "{%- set ns = namespace(system='', turns=[], answer=none) -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.system = m['content'] | trim -%}"
    "{%- else -%}{%- set ns.turns = ns.turns + [m] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if not add_generation_prompt and ns.turns and ns.turns[-1]['role'] == 'assistant' -%}"
    "{%- set ns.answer = ns.turns[-1]['content'] -%}{%- set ns.turns = ns.turns[:-1] -%}{%- endif -%}"
    "{%- if ns.system -%}{{ ns.system + '\\n\\n' }}{%- endif -%}"
    "{%- if ns.turns | length > 1 -%}"
    "{{ 'PREAMBLE_WITH_INPUT\\n\\n### Instruction:\\n' + (ns.turns[-1]['content'] | trim) + '\\n\\n### Input:\\n' }}"
    "{%- for m in ns.turns[:-1] -%}{{ m['role'] + ': ' + m['content'] }}{%- if not loop.last -%}{{ '\\n' }}{%- endif -%}{%- endfor -%}"
    "{%- else -%}"
    "{{ 'PREAMBLE\\n\\n### Instruction:\\n' + ((ns.turns[-1]['content'] if ns.turns else '') | trim) }}"
    "{%- endif -%}"
    "{{ '\\n\\n### Response:\\n' }}"
    "{%- if ns.answer is not none -%}{{ ns.answer + eos_token }}{%- endif -%}"
)


@dataclass
class ChatTemplateFormat(PromptFormat):
    """The model's own chat template (a Jinja string, stored here so the format is standalone)."""

    type: ClassVar[str] = "chat"
    template: str = ""
    bos_token: str = ""
    eos_token: str = ""

    def __post_init__(self) -> None:
        if not self.template:
            raise ConfigError("a chat prompt format needs the model's chat template", key="prompt_format.template",
                              hint="this model has no chat template: use the 'alpaca' format instead")
        if not self.stop:
            self.stop = self._end_of_turn()

    def render_messages(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return render_sandboxed(
            self.template,
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )

    def render_prompt(self, record: Record) -> str:
        return self.render_messages(_context_messages(record), add_generation_prompt=True)

    def render_turns(self, record: Record) -> list[tuple[str, str]] | None:
        """Every assistant turn as (the text since the previous answer's end marker, the answer).

        Joined with the end marker after each answer, the pieces are exactly what the template
        renders; None when it renders differently (a template that rewrites earlier turns), so
        the caller can fall back to one example per turn.
        """
        msgs = record.conversation()
        marker = self.stop[0] if self.stop else ""
        pieces: list[tuple[str, str]] = []
        consumed = ""
        for i, message in enumerate(msgs):
            if message["role"] != "assistant":
                continue
            context = self.render_messages(msgs[:i], add_generation_prompt=True)
            if not context.startswith(consumed):
                return None
            pieces.append((context[len(consumed):], message["content"]))
            consumed = context + message["content"] + marker
        return pieces

    def _end_of_turn(self) -> list[str]:
        """What the template writes right after an assistant answer, e.g. '<|im_end|>'."""
        marker = "\x00ANSWER\x00"
        msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
        try:
            text = self.render_messages(msgs, add_generation_prompt=False)
        except SeedtuneError:
            return [self.eos_token] if self.eos_token else []
        tail = text.split(marker, 1)[-1].strip()
        stop = tail.split()[0] if tail else ""
        return [s for s in dict.fromkeys([stop, self.eos_token]) if s]

    def chat_template(self) -> str:
        return self.template

    def stop_strings(self) -> list[str]:
        return list(self.stop)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "ChatTemplateFormat":
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):  # some tokenizers ship several named templates
            template = template.get("default") or next(iter(template.values()))
        return cls(
            template=template or "",
            bos_token=tokenizer.bos_token or "",
            eos_token=tokenizer.eos_token or "",
        )


@dataclass
class JinjaFormat(PromptFormat):
    """A user's own Jinja template over the record's fields (instruction, input, system, ...)."""

    type: ClassVar[str] = "jinja"
    template: str = ""

    def __post_init__(self) -> None:
        if not self.template:
            raise ConfigError("a jinja prompt format needs a template", key="prompt_format.template",
                              hint="give the template text, e.g. '{{ instruction }}\\n{{ input }}\\nAnswer:'")

    def render_prompt(self, record: Record) -> str:
        context = record.model_dump()
        context["messages"] = _context_messages(record)
        return render_sandboxed(self.template, **context)


_TYPES: dict[str, type[PromptFormat]] = {f.type: f for f in (AlpacaFormat, ChatTemplateFormat, JinjaFormat)}


def format_from_dict(data: dict[str, Any]) -> PromptFormat:
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in _TYPES:
        raise ConfigError(f"unknown prompt format type {kind!r}", key="prompt_format.type",
                          hint=f"use one of: {', '.join(_TYPES)}")
    return _TYPES[kind](**data)


def for_model(tokenizer: Any, prefer: str = "auto") -> PromptFormat:
    """The format to use for a model: its chat template if it has one (and `prefer` allows)."""
    if prefer == "alpaca":
        return AlpacaFormat()
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if prefer == "chat" and not has_template:
        raise ConfigError("this model has no chat template", key="prompt_format",
                          hint="use prompt_format=alpaca, or give a jinja template")
    return ChatTemplateFormat.from_tokenizer(tokenizer) if has_template else AlpacaFormat()


def knows_conversations(fmt: PromptFormat) -> bool:
    """Should earlier turns be shown to this model? Yes when it was trained on conversations; when
    that is unknown, yes for its own chat template and no for Alpaca sections, where history can
    only be folded into the Input section — a layout no model was taught to read as a dialogue."""
    if fmt.conversations is not None:
        return fmt.conversations
    return isinstance(fmt, ChatTemplateFormat)


def save_format(fmt: PromptFormat, directory: str | Path) -> Path:
    from seedtune.io import write_json

    path = Path(directory) / FORMAT_FILE
    write_json(path, fmt.to_dict())
    return path


def load_format(directory: str | Path) -> PromptFormat | None:
    """The format saved with a model, or None when the directory has none."""
    path = Path(directory) / FORMAT_FILE
    if not path.exists():
        return None
    return format_from_dict(json.loads(path.read_text(encoding="utf-8")))

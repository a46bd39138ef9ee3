"""The Record: one instruction-tuning example and where it came from.

A record is (instruction, input, output), optionally with a system prompt and multi-turn
`messages`, plus provenance: which source made it (seed, human, converted, self-instruct,
evol, response, magpie, constraints), by which teacher, from which parents, in which round, and why it was
kept. `id` is a content hash, so the same example gets the same id wherever it is produced.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from seedtune.lexicon import join_instruction

Source = Literal["seed", "human", "converted", "self-instruct", "evol", "response", "magpie", "constraints"]
SOURCES: tuple[str, ...] = ("seed", "human", "converted", "self-instruct", "evol", "response", "magpie", "constraints")
# One name per method, as the CLI spells it (`seedtune generate evol`); older files and other
# spellings are read as these.
SOURCE_ALIASES = {"evol-instruct": "evol", "evol_instruct": "evol", "self_instruct": "self-instruct",
                  "selfinstruct": "self-instruct", "seeds": "seed", "respond": "response", "responses": "response",
                  "constraint": "constraints", "templates": "converted"}  # `generate templates` writes "converted"
Role = Literal["system", "user", "assistant"]


def known_sources() -> tuple[str, ...]:
    """Every value `Record.source` accepts (read off the field, so a source added there counts)."""
    return get_args(Record.model_fields["source"].annotation) or SOURCES


def resolve_source(name: str) -> str | None:
    """The `Record.source` a config name means ('seeds' -> 'seed', 'self_instruct' ->
    'self-instruct', 'constraint' -> 'constraints'), or None when it names no source."""
    known = known_sources()
    key = name.strip().lower()
    for candidate in (key, SOURCE_ALIASES.get(key, ""), key.replace("_", "-")):
        if candidate in known:
            return candidate
    # A plural or singular of a known source ('magpies', 'constraint').
    for candidate in (key.rstrip("s"), key + "s", key.replace("_", "-").rstrip("s"), key.replace("_", "-") + "s"):
        if candidate in known:
            return candidate
    return None


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


class Record(BaseModel):
    """One example. Only `instruction` is required; everything else has a sensible default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    instruction: str = Field(description="What the model is asked to do.")
    input: str = Field("", description="Optional context the instruction operates on.")
    output: str = Field("", description="The target response (empty until a teacher answers).")
    system: str | None = Field(None, description="Optional system prompt.")
    messages: list[Message] | None = Field(
        None, description="Multi-turn conversation; when set, the last assistant turn is the target."
    )
    # provenance
    id: str = Field("", description="Stable content hash; computed when empty.")
    source: Source = "human"
    teacher: str | None = None
    parent_ids: list[str] = Field(default_factory=list)
    round: int | None = None
    lang: str | None = None
    task: str | None = Field(None, description="Task name (e.g. seed task id) this instance belongs to.")
    category: str | None = None
    is_classification: bool | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    kept_reason: str | None = None
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Further provenance: method, template id, request key..."
    )

    @field_validator("instruction", "input", "output", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        return value

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return SOURCE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fill(self) -> "Record":
        if self.messages and not self.instruction:
            first_user = next((m.content for m in self.messages if m.role == "user"), "")
            object.__setattr__(self, "instruction", first_user)
        if not self.id:
            object.__setattr__(self, "id", self.content_hash())
        if self.lang is None:
            from seedtune.textsim import detect_lang

            object.__setattr__(self, "lang", detect_lang(self.instruction + " " + self.input))
        return self

    def content_hash(self) -> str:
        """sha256 over the content fields only, so provenance changes never change the id."""
        payload = {
            "system": self.system or "",
            "instruction": self.instruction,
            "input": self.input,
            "output": self.output,
            "messages": [m.model_dump() for m in self.messages] if self.messages else None,
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def with_(self, **changes: Any) -> "Record":
        """A copy with `changes`; the id is recomputed when content changed and no id was given."""
        data = self.model_dump()
        data.update(changes)
        if "id" not in changes and any(k in changes for k in ("instruction", "input", "output", "system", "messages")):
            data["id"] = ""
        return Record.model_validate(data)

    def to_dict(self, drop_empty: bool = True) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if drop_empty:
            keep = {"instruction", "input", "output", "id", "source"}
            data = {k: v for k, v in data.items() if k in keep or v not in (None, [], {}, "")}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        return cls.model_validate(data)

    @property
    def answer(self) -> str:
        """The answer a model is taught: `output`, or the last assistant turn of a conversation."""
        if self.messages and not self.output:
            last = self.messages[-1]
            return last.content if last.role == "assistant" else ""
        return self.output

    def conversation(self) -> list[dict[str, str]]:
        """The example as chat messages (system?, user, assistant)."""
        if self.messages:
            msgs = [m.model_dump() for m in self.messages]
            if self.system and not any(m["role"] == "system" for m in msgs):
                msgs.insert(0, {"role": "system", "content": self.system})
            return msgs
        msgs = []
        if self.system:
            msgs.append({"role": "system", "content": self.system})
        user = join_instruction(self.instruction, self.input)
        msgs.append({"role": "user", "content": user})
        if self.output:
            msgs.append({"role": "assistant", "content": self.output})
        return msgs

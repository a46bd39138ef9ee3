"""Zero-shot, k-shot and chain-of-thought prompts, built from the model's own prompt format.

One instance becomes one prompt per mode:

- zero: the task instruction (+ input) in the format the model was trained with;
- few:k: k demonstrations from the same task (never the instance itself) chosen by fixed-seed
  random, first-k, or nearest by embedding similarity (Liu et al. 2022, "What Makes Good
  In-Context Examples for GPT-3?" — the most similar demonstration sits closest to the query).
  Chat models see them as earlier user/assistant turns; plain formats (Alpaca, custom Jinja) see
  each as a full prompt+answer block before the query;
- cot: zero-shot chain of thought (Kojima et al. 2022, "Large Language Models are Zero-Shot
  Reasoners"): the trigger goes where the answer starts for plain formats ("...### Response:\n
  Let's think step by step."), and at the end of the user turn for chat models.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seedtune.lexicon import join_instruction
from seedtune.errors import ConfigError
from seedtune.prompts.formats import ChatTemplateFormat, PromptFormat
from seedtune.records import Record

from seedtune.evaluate.suites import Instance, Suite, Task

COT_TRIGGER = {"en": "Let's think step by step.", "zh": "让我们一步一步地思考。"}
Encoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Mode:
    """An evaluation condition: 'zero', 'few:K' or 'cot'."""

    name: str
    k: int = 0
    cot: bool = False

    @classmethod
    def parse(cls, text: str) -> "Mode":
        text = text.strip().lower()
        if text in ("zero", "zero-shot", "0"):
            return cls("zero")
        if text in ("cot", "zero-cot"):
            return cls("cot", cot=True)
        m = re.fullmatch(r"few(?:-shot)?(?::(\d+))?", text)
        if m:
            k = int(m.group(1) or 3)
            if k < 1:
                raise ConfigError("few-shot needs k >= 1", key="modes", hint="write few:3")
            return cls(f"few:{k}", k=k)
        raise ConfigError(f"unknown mode {text!r}", key="modes", hint="use zero, few:K (e.g. few:3) or cot")


def parse_modes(text: str | Sequence[str]) -> list[Mode]:
    parts = text.split(",") if isinstance(text, str) else list(text)
    modes = [Mode.parse(p) for p in parts if str(p).strip()]
    if not modes:
        raise ConfigError("no evaluation modes given", key="modes", hint="e.g. --modes zero,few:3,cot")
    return list(dict.fromkeys(modes))


@dataclass(frozen=True)
class Prompt:
    """What is sent for one instance: raw `text` for local models, or chat `messages` for endpoints."""

    messages: tuple[tuple[str, str], ...]
    text: str | None = None
    demo_ids: tuple[str, ...] = ()

    def display(self) -> str:
        if self.text is not None:
            return self.text
        return "\n\n".join(f"[{role}]\n{content}" for role, content in self.messages)


def user_text(instruction: str, input_text: str) -> str:  # the one join, under the name eval uses
    return join_instruction(instruction, input_text)


def build_prompt(fmt: PromptFormat | None, task: Task, instance: Instance, demos: Sequence[tuple[Task, Instance]],
                 mode: Mode) -> Prompt:
    """The prompt for `instance` in `mode`; `fmt=None` means a chat endpoint (messages only)."""
    trigger = COT_TRIGGER["zh" if task.lang.startswith("zh") else "en"] if mode.cot else ""
    query = user_text(task.instruction_for(instance), instance.input)
    turns: list[tuple[str, str]] = []
    for demo_task, demo in demos:
        turns.append(("user", user_text(demo_task.instruction_for(demo), demo.input)))
        turns.append(("assistant", demo.references[0]))
    demo_ids = tuple(d.id for _, d in demos)
    chat_query = f"{query}\n\n{trigger}" if trigger else query
    messages = tuple(turns) + (("user", chat_query),)
    if fmt is None:
        return Prompt(messages, None, demo_ids)
    if isinstance(fmt, ChatTemplateFormat):
        text = fmt.render_messages([{"role": r, "content": c} for r, c in messages], add_generation_prompt=True)
        return Prompt(messages, text, demo_ids)
    # Plain formats: each demonstration is a full prompt + answer block, then the query.
    blocks = []
    for demo_task, demo in demos:
        prompt, _ = fmt.render(Record(instruction=demo_task.instruction_for(demo), input=demo.input))
        blocks.append(prompt + demo.references[0])
    prompt, _ = fmt.render(Record(instruction=task.instruction_for(instance), input=instance.input))
    if trigger:
        prompt = prompt + trigger
    blocks.append(prompt)
    return Prompt(messages, "\n\n".join(blocks), demo_ids)


class DemoSelector:
    """Picks k demonstrations for an instance; deterministic for a given seed.

    The pool is the task's own demonstrations (SuperNI positive examples) and its other instances;
    when that holds fewer than k, other tasks of the same category, then any task, fill the rest.
    """

    def __init__(self, suite: Suite, strategy: str = "random", seed: int = 0, encoder: Encoder | None = None):
        if strategy not in ("random", "first", "nearest"):
            raise ConfigError(f"unknown demonstration strategy {strategy!r}", key="demos",
                              hint="use random, first or nearest")
        self.suite = suite
        self.strategy = strategy
        self.seed = seed
        self.encoder = encoder
        self._vectors: dict[str, np.ndarray] = {}

    def pool(self, task: Task, instance: Instance, k: int) -> list[tuple[Task, Instance]]:
        def usable(t: Task, d: Instance) -> bool:
            return d.id != instance.id and not (d.input == instance.input and t.instruction_for(d) == task.instruction_for(instance))

        own = [(task, d) for d in task.demos + task.instances if usable(task, d)]
        if len(own) >= k:
            return own
        same = [(t, d) for t in self.suite.tasks if t is not task and t.category == task.category
                for d in t.demos + t.instances]
        rest = [(t, d) for t in self.suite.tasks if t is not task and t.category != task.category
                for d in t.demos + t.instances]
        return own + [p for p in same + rest if usable(*p)]

    def select(self, task: Task, instance: Instance, k: int) -> list[tuple[Task, Instance]]:
        pool = self.pool(task, instance, k)
        if self.strategy == "first":
            return pool[:k]
        if self.strategy == "random":
            # Seeded by the instance id so the choice does not depend on evaluation order.
            digest = hashlib.sha256(f"{self.seed}:{instance.id}".encode()).hexdigest()
            rng = random.Random(int(digest[:16], 16))
            own = [p for p in pool if p[0] is task]
            picked = rng.sample(own, min(k, len(own)))
            return picked + pool[len(own):][: k - len(picked)]
        return self._nearest(task, instance, pool, k)

    def _nearest(self, task: Task, instance: Instance, pool: list[tuple[Task, Instance]], k: int):
        if self.encoder is None:
            raise ConfigError("nearest demonstrations need a sentence encoder", key="demos",
                              hint="use demos=random or demos=first, or install the embedding model")
        texts = [user_text(task.instruction_for(instance), instance.input)]
        texts += [user_text(t.instruction_for(d), d.input) for t, d in pool]
        vecs = self._embed(texts)
        query, cands = vecs[0], vecs[1:]
        sims = cands @ query / (np.linalg.norm(cands, axis=1) * np.linalg.norm(query) + 1e-12)
        order = np.argsort(-sims, kind="stable")[:k]
        # Most similar last: it sits right before the query.
        return [pool[i] for i in reversed(order.tolist())]

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, np.asarray(self.encoder(missing), dtype=float)):
                self._vectors[t] = v
        return np.stack([self._vectors[t] for t in texts])


def sentence_encoder(name: str = "all-minilm-l6-v2") -> Encoder:
    """The embedded sentence encoder (all-MiniLM-L6-v2) as an `Encoder`; loaded on first call."""
    from seedtune.models import resolve_model
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model(name)), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)

    return encode

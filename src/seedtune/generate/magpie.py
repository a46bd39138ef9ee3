"""Magpie (Xu et al. 2024, "Magpie: Alignment Data Synthesis from Scratch by Prompting Aligned LLMs
with Nothing"), read top to bottom:

1. The teacher's chat template is rendered up to the start of a user turn ("...<|im_start|>user\\n")
   and sent as a raw completion: an instruct model, having seen thousands of such turns, writes
   a plausible user request there and stops at its end-of-turn marker.
2. The request passes cheap checks (empty, cut off, length, tasks a text model cannot do, the
   wanted language) and the ROUGE-L novelty filter against the seeds and every request so far
   (`textsim.NoveltyIndex`, as Self-Instruct uses).
3. The teacher answers it as an ordinary chat request; cut-off, empty or wrong-language answers
   are dropped.
4. With `turns > 1` the conversation so far is rendered up to the next user turn and steps 1-3
   repeat; a conversation that fails at a later turn is kept with the turns it completed.

Language is steered by a per-language system prompt (and an optional prefix that starts every
user turn, kept as part of the request). The steering system prompt is not written into the
records. Every drop goes to `<out>.rejected.jsonl` with its reason; all sampling seeds derive
from (seed, round, position, turn), so a rerun replays from the request cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.errors import SeedtuneError
from seedtune.generate.common import Run, TeacherConfig, derive_seed, rejected, rng_for
from seedtune.generate.self_instruct import heuristic_reason
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher
from seedtune.textsim import NoveltyIndex, detect_lang, length_units


class MagpieConfig(StrictModel):
    """Magpie settings; sampling defaults follow the paper (requests at temperature 1, top_p 1)."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="An instruct (chat) teacher, limits and budget.")
    target: int = Field(100, ge=1, description="Conversations to keep before stopping.")
    seed: int = Field(0, description="Run seed; all sampling derives from (seed, round, position, turn).")
    turns: int = Field(1, ge=1, le=8, description="User turns per conversation (1: single-turn instruction records).")
    lang: Literal["auto", "en", "zh"] = Field("auto", description="Language of the requests: en, zh, or auto (each conversation picks one in proportion to the seeds' languages).")
    system_en: str | None = Field(None, description="System prompt that steers English conversations (none: the template's own default).")
    system_zh: str | None = Field("你是一个乐于助人的助手。用户总是用中文提问，你总是用中文回答。",
                                  description="System prompt that steers Chinese conversations.")
    prefix_en: str = Field("", description="Text that starts every English user turn (the teacher continues it); kept in the request.")
    prefix_zh: str = Field("", description="Text that starts every Chinese user turn, e.g. '请'; kept in the request.")
    answer_system: str | None = Field(None, description="System prompt for the answer step only, e.g. one asking for answers under 120 words (fewer answers cut off by max_tokens); not stored. None: the conversation's steering prompt.")
    user_prefix: str | None = Field(None, description="The raw text that opens a user turn, when the teacher's chat template cannot be read (openai: teachers with a completions endpoint). Default: rendered from the template.")
    requests_per_round: int = Field(16, ge=1, description="Conversations started per round (one batch).")
    max_rounds: int = Field(50, ge=1, description="Give up after this many rounds even if `target` is not reached.")
    novelty_threshold: float = Field(0.7, ge=0, le=1, description="Drop a request whose ROUGE-L with a seed or an earlier request exceeds this.")
    min_length: int = Field(3, ge=1, description="Fewest words (CJK: characters / 2) a request may have.")
    max_length: int = Field(150, ge=1, description="Most words (CJK: characters / 2) a request may have.")
    query_temperature: float = Field(1.0, ge=0, description="Sampling temperature for user requests (paper: 1.0).")
    query_top_p: float = Field(1.0, gt=0, le=1, description="Nucleus mass for user requests (paper: 1.0).")
    query_max_tokens: int = Field(96, ge=8, description="Token budget of a user request.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature for answers.")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus mass for answers.")
    max_tokens: int = Field(384, ge=16, description="Token budget of an answer; answers cut off by it are dropped.")


_SENTINEL = "\x00MAGPIE-USER-TURN\x00"


def user_turn_prefix(chat_format: Any, history: Sequence[dict[str, str]]) -> str:
    """The chat template rendered up to where the next user message's text would begin.

    Renders `history` + a user turn holding a sentinel, and cuts at the sentinel. The template's
    BOS text is removed from the front: raw prompts are tokenised with the tokenizer's own
    special tokens, which put it back.
    """
    messages = [*history, {"role": "user", "content": _SENTINEL}]
    text = chat_format.render_messages(messages, add_generation_prompt=False)
    if _SENTINEL not in text:
        raise SeedtuneError("the teacher's chat template does not write the user's message verbatim",
                            hint="set generate.magpie.user_prefix to the text that opens a user turn")
    prefix = text.split(_SENTINEL, 1)[0]
    bos = getattr(chat_format, "bos_token", "")
    return prefix[len(bos):] if bos and prefix.startswith(bos) else prefix


def teacher_chat_format(teacher: Any) -> Any:
    """The chat template of the teacher behind the cache (hf:/vllm: teachers), or None."""
    inner = getattr(teacher, "teacher", teacher)
    fmt = getattr(inner, "prompt_format", None)
    return fmt if fmt is not None and hasattr(fmt, "render_messages") else None


@dataclass
class Conversation:
    position: int
    lang: str
    system: str | None
    messages: list[dict[str, str]] = field(default_factory=list)
    failed: Record | None = None  # the rejected turn that ended it, if any

    def context(self) -> list[dict[str, str]]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.messages


def new_conversation(config: MagpieConfig, share_zh: float, round_: int, position: int) -> Conversation:
    """An empty conversation in its language: fixed, or drawn in proportion to the seeds ('auto')."""
    lang = config.lang
    if lang == "auto":
        lang = "zh" if rng_for(config.seed, "magpie-lang", round_, position).random() < share_zh else "en"
    return Conversation(position, lang, config.system_zh if lang == "zh" else config.system_en)


def magpie(seeds: Sequence[Record], out: str | Path, config: MagpieConfig | None = None,
           teacher: Teacher | None = None, progress: bool = True) -> dict[str, Any]:
    """Write `config.target` teacher-written conversations to `out` (JSONL); `seeds` prime the
    novelty index (no generated request may repeat a seed) and set the language mix for 'auto'."""
    config = config or MagpieConfig()
    run = Run("magpie", out, config.teacher, teacher, progress=progress, total=config.target)
    chat_format = teacher_chat_format(run.teacher)
    if config.user_prefix is None and chat_format is None:
        run.finish()
        raise SeedtuneError(f"cannot read the chat template of teacher {run.teacher_id}",
                            hint="set generate.magpie.user_prefix to the raw text that opens a user turn")
    index = NoveltyIndex(config.novelty_threshold)
    for text in dict.fromkeys(r.instruction.strip() for r in seeds if r.instruction.strip()):
        index.add(text)
    share_zh = sum(r.lang == "zh" for r in seeds) / len(seeds) if seeds else 0.0
    kept = rounds = 0
    try:
        for round_ in range(config.max_rounds):
            if kept >= config.target or run.should_stop():
                break
            rounds = round_ + 1
            convs = [new_conversation(config, share_zh, round_, p) for p in range(config.requests_per_round)]
            for turn in range(config.turns):
                alive = [c for c in convs if c.failed is None and len(c.messages) == 2 * turn]
                alive = _ask_requests(run, alive, chat_format, index, config, round_, turn)
                _answer(run, alive, config, round_, turn)
            kept += _emit(run, convs, config, round_, room=config.target - kept)
    finally:
        summary = run.finish(rounds=rounds, target=config.target, turns=config.turns)
    return summary


def _ask_requests(run: Run, convs: list[Conversation], chat_format: Any, index: NoveltyIndex,
                  config: MagpieConfig, round_: int, turn: int) -> list[Conversation]:
    """Step 1-2: the teacher writes each conversation's next user request; returns those that passed."""
    if not convs:
        return []
    requests = []
    for c in convs:
        prefix = (config.user_prefix if config.user_prefix is not None
                  else user_turn_prefix(chat_format, c.context()))
        if config.user_prefix is not None and c.messages:  # a fixed prefix cannot carry history
            raise SeedtuneError("multi-turn Magpie needs the teacher's chat template",
                                hint="drop user_prefix, or set turns: 1")
        lead = config.prefix_zh if c.lang == "zh" else config.prefix_en
        stop = tuple(getattr(chat_format, "stop", ()) or ())
        requests.append(Request(prompt=prefix + lead, max_tokens=config.query_max_tokens, stop=stop,
                                temperature=config.query_temperature, top_p=config.query_top_p,
                                seed=derive_seed(config.seed, "magpie-query", round_, c.position, turn)))
    passed = []
    for c, completion in zip(convs, run.ask(requests)):
        lead = config.prefix_zh if c.lang == "zh" else config.prefix_en
        text = (lead + completion.text).strip()
        reason = ("truncated" if completion.finish_reasons[:1] == ["length"]
                  else heuristic_reason(text, config.min_length, config.max_length))
        if reason is None and _lang(text) != c.lang:
            reason = "wrong_lang"
        detail: dict[str, Any] = {}
        if reason is None and turn == 0:  # later turns follow up on their own conversation
            novel, score, nearest = index.check_and_add(text)
            if not novel:
                reason, detail = "too_similar", {"rouge_l": round(score, 4), "nearest": index.texts[nearest]}
        if reason:
            c.failed = rejected(_record(run, c, extra_user=text, round_=round_), reason,
                                turn=turn + 1, request_key=completion.key, **detail)
            continue
        c.messages.append({"role": "user", "content": text})
        passed.append(c)
    return passed


def _answer(run: Run, convs: list[Conversation], config: MagpieConfig, round_: int, turn: int) -> None:
    """Step 3: the teacher answers each request as a normal chat turn."""
    if not convs:
        return
    requests = [Request.chat(_answer_context(c, config), max_tokens=config.max_tokens, temperature=config.temperature,
                             top_p=config.top_p, seed=derive_seed(config.seed, "magpie-answer", round_, c.position, turn))
                for c in convs]
    for c, completion in zip(convs, run.ask(requests)):
        text = completion.text.strip()
        reason = None
        if not text:
            reason = "empty"
        elif completion.finish_reasons[:1] == ["length"]:
            reason = "truncated"
        elif length_units(text) >= 4 and _lang(text) != c.lang:
            reason = "wrong_lang"
        if reason:
            c.messages.append({"role": "assistant", "content": text})
            c.failed = rejected(_record(run, c, round_=round_), reason, turn=turn + 1, request_key=completion.key)
            c.messages.pop()
            c.messages.pop()  # the unanswered request goes too: a conversation ends on an answer
            continue
        c.messages.append({"role": "assistant", "content": text})


def _answer_context(c: Conversation, config: MagpieConfig) -> list[dict[str, str]]:
    if config.answer_system is None:
        return c.context()
    return [{"role": "system", "content": config.answer_system}, *c.messages]


def _emit(run: Run, convs: list[Conversation], config: MagpieConfig, round_: int, room: int) -> int:
    """Write the round's conversations: complete ones (or the turns completed before a failure) are
    kept up to `room`; failures at the first turn, and the rest, are rejected with their reason."""
    kept: list[Record] = []
    dropped: list[Record] = []
    for c in convs:
        if c.failed is not None:
            dropped.append(c.failed)
        if not c.messages:
            continue
        record = _record(run, c, round_=round_)
        if len(kept) >= room:
            dropped.append(rejected(record, "target_reached"))
        else:
            kept.append(record)
    run.drop(dropped)
    run.keep(kept)
    return len(kept)


def _record(run: Run, c: Conversation, round_: int, extra_user: str | None = None) -> Record:
    """A conversation as a record: instruction/output for one exchange, `messages` for more."""
    messages = list(c.messages) + ([{"role": "user", "content": extra_user}] if extra_user else [])
    meta = {"method": "magpie", "lang_requested": c.lang, "turns": sum(m["role"] == "user" for m in messages)}
    common = dict(source="magpie", teacher=run.teacher_id, round=round_, lang=c.lang, meta=meta)
    if len(messages) <= 2:
        user = messages[0]["content"] if messages else ""
        output = messages[1]["content"] if len(messages) > 1 else ""
        return Record(instruction=user, output=output, **common)
    return Record(instruction=messages[0]["content"], messages=messages, **common)


def _lang(text: str) -> str:
    return "zh" if detect_lang(text) == "zh" else "en"


__all__ = ["MagpieConfig", "magpie", "user_turn_prefix"]

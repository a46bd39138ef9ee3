"""Self-Instruct (Wang et al. 2023, "Self-Instruct: Aligning Language Models with Self-Generated
Instructions", ACL), read top to bottom:

1. The task pool starts as the seed tasks.
2. Each round sends `requests_per_round` requests; each shows 6 seed + 2 generated instructions
   (drawn with an RNG seeded by (seed, round, position)) and asks the teacher to continue the list.
3. New instructions are parsed from the numbered reply, pass heuristic filters (length, tasks a
   text model cannot do, bad first characters) and the ROUGE-L novelty filter (<= 0.7 against
   the whole pool, `textsim.NoveltyIndex`), and only then join the pool.
4. Each accepted instruction is classified (classification task or not), then gets an instance:
   input-first for generation tasks, output-first (label, then an input with that label) for
   classification tasks, which the paper found avoids inputs biased to one label.
5. Rounds repeat until `target` new instructions are accepted.

Every drop is written to `<out>.rejected.jsonl` with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.errors import InputError
from seedtune.generate.common import Run, TeacherConfig, derive_seed, rejected, render, rng_for
from seedtune.lexicon import NON_TEXT_RE
from seedtune.records import Record
from seedtune.teachers.base import Request, Teacher
from seedtune.textsim import NoveltyIndex, detect_lang, length_units


class SelfInstructConfig(StrictModel):
    """Self-Instruct settings; defaults follow the paper where it gives one."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="Teacher, limits and budget.")
    target: int = Field(100, ge=1, description="New instructions to accept before stopping.")
    seed: int = Field(0, description="Run seed; all sampling derives from (seed, round, position).")
    requests_per_round: int = Field(8, ge=1, description="Instruction-generation requests per round (one batch).")
    max_rounds: int = Field(200, ge=1, description="Give up after this many rounds even if `target` is not reached.")
    in_context_seeds: int = Field(6, ge=0, description="Seed instructions shown per request (paper: 6).")
    in_context_generated: int = Field(2, ge=0, description="Generated instructions shown per request (paper: 2).")
    max_new_per_request: int = Field(8, ge=1, description="New instructions taken from one reply at most.")
    novelty_threshold: float = Field(0.7, ge=0, le=1, description="Drop an instruction whose ROUGE-L with any pool instruction exceeds this.")
    min_length: int = Field(3, ge=1, description="Fewest words (CJK: characters / 2) an instruction may have.")
    max_length: int = Field(150, ge=1, description="Most words (CJK: characters / 2) an instruction may have.")
    lang: str = Field("auto", pattern="^(auto|en|zh)$", description="Prompt language: en, zh, or auto (each request picks a language in proportion to the seeds).")
    instances: bool = Field(True, description="Generate an input/output instance per instruction (off: instructions only, answer them later with `respond`).")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature for new instructions (paper: 0.7).")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus mass for new instructions.")
    max_tokens: int = Field(384, ge=16, description="Token budget of an instruction-generation reply.")
    instance_max_tokens: int = Field(256, ge=16, description="Token budget of an instance reply.")


# -- heuristic filters ------------------------------------------------------------------------------

# Tasks a text-only model cannot do (the paper filters images, graphs, files, ...): seedtune.lexicon's
# NON_TEXT_WORDS, the list curation's `keywords` filter uses too.
_CJK_START = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
# Lines where the teacher talks about our prompt instead of writing a task ("The tasks above are
# numbered..."): small teachers do this a lot, and such a line is never a useful instruction.
_ABOUT_PROMPT_RE = re.compile(r"\b(the (above|following|given|new) (tasks?|list|instructions?)|(these|the) tasks (are|can|have)|"
                              r"tasks? (list|are numbered)|numbered list|the list (above|below)|here (is|are) (the|some|a) "
                              r"(new )?(tasks?|list))\b|(上面|以下|这些)(的)?任务|任务清单|编号", re.IGNORECASE)


def heuristic_reason(text: str, min_length: int = 3, max_length: int = 150) -> str | None:
    """Why an instruction fails the paper's cheap filters, or None when it passes."""
    if not text:
        return "empty"
    units = length_units(text)
    words = units / 2 if detect_lang(text) == "zh" else units  # a Chinese character is about half a word
    if words < min_length:
        return "too_short"
    if words > max_length:
        return "too_long"
    if NON_TEXT_RE.search(text):
        return "needs_non_text"
    if _ABOUT_PROMPT_RE.search(text):
        return "about_the_prompt"
    if text.lower().startswith("write a program"):
        return "ambiguous_program"  # the paper drops these: unclear whether code or an answer is wanted
    first = text[0]
    if not first.isalnum():
        return "starts_with_punctuation"
    if not (first.isascii() or _CJK_START.match(first)):
        return "not_english_or_chinese"
    return None


# -- parsing replies --------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^\s*(?:[-*#]+\s*)?(?:\*\*)?(?:task|instruction|任务|指令)?\s*(\d+)\s*(?:\*\*)?\s*[.:：)、]\s*(.*)$",
                       re.IGNORECASE)
_PREFIX = re.compile(r"^(?:task|instruction|任务|指令)\s*[:：]\s*", re.IGNORECASE)


def clean_instruction(text: str) -> str:
    text = _PREFIX.sub("", text.strip()).strip().strip("*").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return re.sub(r"\s+", " ", text)


def parse_instructions(reply: str) -> list[str]:
    """New instructions from a reply that continues a numbered list.

    The prompt ends with "Task N:", so an unnumbered first line is task N; after that only
    numbered lines count (continuation lines of a long task are dropped, as in the paper).
    """
    found: list[str] = []
    seen_first = False
    for line in reply.splitlines():
        if not line.strip():
            continue
        match = _NUMBERED.match(line)
        if match:
            text = match.group(2)
        elif not seen_first:
            text = line
        else:
            continue
        seen_first = True
        text = clean_instruction(text)
        if text:
            found.append(text)
    return found


def is_yes(reply: str) -> bool:
    head = reply.strip().lower().lstrip("*:： ")
    return head.startswith(("yes", "是", "true"))


_LABELS = {"input": ("input", "输入"), "output": ("output", "输出"), "label": ("class label", "label", "类别标签", "标签")}
_LABEL_RE = re.compile(r"^\s*(?:example\s*\d+\s*[:：]?\s*)?(?:\*\*)?(class label|label|input|output|类别标签|标签|输入|输出)(?:\*\*)?\s*[:：]\s*(.*)$",
                       re.IGNORECASE)
_NONE_INPUTS = {"none", "n/a", "na", "无", "没有", "(none)", "<noinput>", "-", "无输入"}


def labelled_fields(reply: str) -> list[tuple[str, str]]:
    """[(input|output|label, text)] in order; values may span several lines."""
    fields: list[tuple[str, list[str]]] = []
    for line in reply.splitlines():
        match = _LABEL_RE.match(line)
        if match:
            name = next(k for k, names in _LABELS.items() if match.group(1).lower() in names)
            fields.append((name, [match.group(2)]))
        elif fields:
            if re.match(r"^\s*(task|任务)\s*[:：]", line, re.IGNORECASE):
                break  # the model started inventing the next task
            fields[-1][1].append(line)
    return [(name, "\n".join(lines).strip()) for name, lines in fields]


def parse_instance(reply: str, classification: bool) -> tuple[str, str] | None:
    """(input, output) from an instance reply: Input then Output, or Class label then Input."""
    fields = labelled_fields(reply)
    first, second = ("label", "input") if classification else ("input", "output")
    for (name_a, value_a), (name_b, value_b) in zip(fields, fields[1:]):
        if name_a == first and name_b == second:
            if classification:
                label, inp = value_a, value_b
                return (inp, label) if label and inp and inp.lower() not in _NONE_INPUTS else None
            inp = "" if value_a.strip().lower() in _NONE_INPUTS else value_a
            return (inp, value_b) if value_b else None
    if not classification and fields and fields[0][0] == "output" and fields[0][1]:
        return "", fields[0][1]  # a task with no input may answer with the output directly
    return None


def copies_demonstration(instance: tuple[str, str], request: Request) -> bool:
    """True when the instance repeats a worked example of the prompt instead of solving the task."""
    prompt = request.messages[-1][1]
    demos = prompt.rsplit("\n\n", 1)[0]  # everything before the task to solve
    inp, out = instance
    return (len(out) >= 8 and out[:40] in demos) or (len(inp) >= 8 and inp[:40] in demos)


# -- the pool ---------------------------------------------------------------------------------------


@dataclass
class PoolTask:
    instruction: str
    id: str
    lang: str
    seed: bool


def seed_pool(seeds: Sequence[Record]) -> list[PoolTask]:
    """One pool entry per distinct seed instruction (seed files hold one record per instance)."""
    pool: dict[str, PoolTask] = {}
    for record in seeds:
        text = record.instruction.strip()
        if text and text not in pool:
            pool[text] = PoolTask(text, record.id, "zh" if detect_lang(text) == "zh" else "en", True)
    return list(pool.values())


def in_context(seeds: list[PoolTask], generated: list[PoolTask], lang: str, config: SelfInstructConfig,
               round_: int, position: int) -> list[PoolTask]:
    """6 seed + 2 generated tasks (fewer generated early on: seeds fill in), shuffled."""
    rng = rng_for(config.seed, "self-instruct", round_, position)
    same_seeds = [t for t in seeds if t.lang == lang] or seeds
    same_generated = [t for t in generated if t.lang == lang]
    from_generated = rng.sample(same_generated, min(config.in_context_generated, len(same_generated)))
    wanted = config.in_context_seeds + config.in_context_generated - len(from_generated)
    from_seeds = rng.sample(same_seeds, min(wanted, len(same_seeds)))
    shown = from_seeds + from_generated
    rng.shuffle(shown)
    return shown


def request_lang(seeds: list[PoolTask], config: SelfInstructConfig, round_: int, position: int) -> str:
    if config.lang != "auto":
        return config.lang
    share_zh = sum(t.lang == "zh" for t in seeds) / max(1, len(seeds))
    return "zh" if rng_for(config.seed, "lang", round_, position).random() < share_zh else "en"


# -- the run ----------------------------------------------------------------------------------------


def self_instruct(seeds: Sequence[Record], out: str | Path, config: SelfInstructConfig | None = None,
                  teacher: Teacher | None = None, progress: bool = True) -> dict[str, Any]:
    """Grow `seeds` into `config.target` new instructions (with instances) in `out` (JSONL)."""
    config = config or SelfInstructConfig()
    pool_seeds = seed_pool(seeds)
    if not pool_seeds:
        raise InputError("no seed instructions to start from", hint="give a seed file with at least one instruction")
    if config.lang != "auto" and not any(t.lang == config.lang for t in pool_seeds):
        raise InputError(f"no seed instruction is in language {config.lang!r}", field="lang",
                         hint="use lang=auto, or add seeds in that language")
    run = Run("self-instruct", out, config.teacher, teacher, progress=progress, total=config.target)
    index = NoveltyIndex(config.novelty_threshold)
    for task in pool_seeds:
        index.add(task.instruction)
    generated: list[PoolTask] = []
    rounds = 0
    try:
        for round_ in range(config.max_rounds):
            if len(generated) >= config.target or run.should_stop():
                break
            rounds = round_ + 1
            new = _new_instructions(run, pool_seeds, generated, index, config, round_)
            generated.extend(task for task, _ in new)
            if config.instances:
                _add_instances(run, new, config, round_)
            else:
                run.keep([record for _, record in new])
    finally:
        summary = run.finish(new_instructions=len(generated), rounds=rounds, target=config.target)
    return summary


def _new_instructions(run: Run, seeds: list[PoolTask], generated: list[PoolTask], index: NoveltyIndex,
                      config: SelfInstructConfig, round_: int) -> list[tuple[PoolTask, Record]]:
    """One round of instruction generation; returns the accepted (pool task, instruction record)s."""
    requests, shown_per_request, langs = [], [], []
    for position in range(config.requests_per_round):
        lang = request_lang(seeds, config, round_, position)
        shown = in_context(seeds, generated, lang, config, round_, position)
        prompt = render("si_instructions", lang, tasks=[t.instruction for t in shown])
        requests.append(Request.user(prompt, max_tokens=config.max_tokens, temperature=config.temperature,
                                     top_p=config.top_p, seed=derive_seed(config.seed, "si", round_, position)))
        shown_per_request.append(shown)
        langs.append(lang)
    completions = run.ask(requests)
    accepted: list[tuple[PoolTask, Record]] = []
    dropped: list[Record] = []
    room = config.target - len(generated)
    for shown, lang, completion in zip(shown_per_request, langs, completions):
        found = parse_instructions(completion.text)
        # A reply cut off by max_tokens ends in a half-written task (the paper drops it too).
        cut = bool(found) and completion.finish_reasons[:1] == ["length"]
        for number, text in enumerate(found[: config.max_new_per_request]):
            record = Record(instruction=text, source="self-instruct", teacher=run.teacher_id, round=round_,
                            parent_ids=[t.id for t in shown],
                            meta={"method": "self-instruct", "template_id": f"si_instructions.{lang}",
                                  "request_key": completion.key})
            reason = "truncated" if cut and number == len(found) - 1 else heuristic_reason(text, config.min_length, config.max_length)
            if reason is None and len(accepted) >= room:
                reason = "target_reached"
            if reason:
                dropped.append(rejected(record, reason))
                continue
            kept, score, nearest = index.check_and_add(text)
            if not kept:
                nearest_text = index.texts[nearest] if nearest is not None else None
                dropped.append(rejected(record, "too_similar", rouge_l=round(score, 4), nearest=nearest_text))
                continue
            record = record.with_(meta={**record.meta, "novelty_rouge_l": round(score, 4)})
            task = PoolTask(text, record.id, "zh" if detect_lang(text) == "zh" else "en", False)
            accepted.append((task, record))
    run.drop(dropped)
    return accepted


def _add_instances(run: Run, new: list[tuple[PoolTask, Record]], config: SelfInstructConfig, round_: int) -> None:
    """Classify each new instruction, then ask for one instance (input-first or output-first)."""
    if not new:
        return
    classify = [Request.user(render("si_classify", t.lang, instruction=t.instruction), max_tokens=4,
                             temperature=0.0) for t, _ in new]
    classified = run.ask(classify)
    refused = {i for i, c in enumerate(classified) if c.error is not None}
    flags = [is_yes(c.text) for c in classified]
    requests = []
    for position, ((task, _), flag) in enumerate(zip(new, flags)):
        template = "si_instance_output_first" if flag else "si_instance_input_first"
        requests.append(Request.user(render(template, task.lang, instruction=task.instruction),
                                     max_tokens=config.instance_max_tokens, temperature=config.temperature,
                                     top_p=config.top_p, seed=derive_seed(config.seed, "instance", round_, position)))
    kept: list[Record] = []
    dropped: list[Record] = []
    for position, ((task, record), flag, request, completion) in enumerate(zip(new, flags, requests, run.ask(requests))):
        template = "si_instance_output_first" if flag else "si_instance_input_first"
        error = classified[position].error if position in refused else completion.error
        if error is not None:
            dropped.append(rejected(record.with_(is_classification=flag), "provider_error", error=error))
            continue
        instance = parse_instance(completion.text, flag)
        if instance is not None and copies_demonstration(instance, request):
            dropped.append(rejected(record.with_(is_classification=flag), "copied_example", reply=completion.text[:500]))
            continue
        base = record.with_(is_classification=flag, task=f"self-instruct-{record.id}",
                            meta={**record.meta, "instance_template_id": f"{template}.{task.lang}",
                                  "instance_request_key": completion.key})
        if instance is None:
            dropped.append(rejected(base, "no_instance", reply=completion.text[:500]))
            continue
        final = base.with_(input=instance[0], output=instance[1])
        task.id = final.id  # later requests that show this task name the record that holds it
        kept.append(final)
    run.drop(dropped)
    run.keep(kept)

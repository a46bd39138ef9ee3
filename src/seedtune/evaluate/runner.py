"""`evaluate(config) -> EvalResult`: every model, every mode, the same instances, one pass.

Reads top to bottom: load the suite -> open the models -> check contamination -> build every
prompt -> generate (all requests of a model in large batches, through the cache) -> extract the
answers -> score -> judge -> aggregate with confidence intervals -> write predictions.jsonl,
scores.json, report.md, report.html.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedtune.cache import usage_totals
from seedtune.errors import ConfigError
from seedtune.io import ensure_dir, refuse_output_over_input, write_jsonl
from seedtune.prompts.formats import AlpacaFormat, ChatTemplateFormat
from seedtune.teachers import Request, Teacher

from seedtune.evaluate.contamination import check as check_contamination
from seedtune.evaluate.contamination import training_data
from seedtune.evaluate.backends import EvalModel, labels_for, open_model
from seedtune.evaluate.config import EvalConfig
from seedtune.evaluate.extract import answer_kind, clean_output, extract_answer
from seedtune.evaluate.judge import (RELIABLE_ACCURACY, Judge, PairItem, SingleItem, check_judge, known_pairs,
                                     resolve_verdict, summarize_pairs)
from seedtune.evaluate.metrics import metrics_for, score
from seedtune.evaluate.prompting import DemoSelector, Encoder, Mode, build_prompt, parse_modes, sentence_encoder, user_text
from seedtune.evaluate.instructions import METRIC as IF_METRIC
from seedtune.evaluate.instructions import aggregate_instructions, capped, check_row, row_scores
from seedtune.evaluate.results import EvalScores, InstructionBlock, ModelInfo, SuiteInfo
from seedtune.evaluate.scoring import aggregate
from seedtune.evaluate.suites import Instance, Suite, Task, load_suite

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class EvalResult:
    output: Path
    scores: EvalScores  # what scores.json holds
    predictions: list[dict[str, Any]]
    contamination: dict[str, dict[str, Any]] = field(default_factory=dict)  # model label -> task -> hit
    extraction_failures: int = 0
    generated: int = 0  # requests that reached a model (not answered from the cache)

    @property
    def files(self) -> dict[str, Path]:
        return {n: self.output / n for n in ("predictions.jsonl", "scores.json", "report.md", "report.html")}


@dataclass
class _Job:
    task: Task
    instance: Instance
    mode: Mode
    prompt: Any  # prompting.Prompt
    request: Request
    suite: str = ""


def evaluate(config: EvalConfig, *, teachers: Mapping[str, Teacher] | None = None, judge: Teacher | None = None,
             encoder: Encoder | None = None, progress: Progress | None = None) -> EvalResult:
    """Run the evaluation `config` describes; `teachers` / `judge` / `encoder` replace the backends
    (by model spec) for tests or custom servers."""
    out = Path(config.output)
    inputs = [*config.suites, *config.models, *config.train_data]
    refuse_output_over_input(out, [i for i in inputs if Path(str(i)).exists()], flag="--output")
    ensure_dir(out)  # a file in the way fails now, not after every answer was generated
    suite, checked = _load_suites(config)
    modes = parse_modes(config.modes)
    if_modes = _checked_modes(modes) if checked else []
    cache = _open_cache(config)
    prices, budget = _budget(config)

    labels = labels_for(config.models, config.labels)
    _check_pairs(config.compare, labels)
    models = [open_model(spec, label, prefer_format=config.prompt_format, batch_size=config.batch_size,
                         dtype=config.dtype, base_url=config.base_url, teacher=(teachers or {}).get(spec), cache=cache,
                         prices=prices, budget=budget, engine=config.engine)
              for spec, label in zip(config.models, labels)]

    contaminated = {m.label: _contamination(suite, m, config.train_data) if suite else {} for m in models}
    demos = _demos(suite, modes, config, encoder) if suite else {}

    rows: list[dict[str, Any]] = []
    generated = 0
    timing: dict[str, dict[str, Any]] = {}
    for model in models:
        jobs = [_job(model, task, inst, mode, demos.get((task.id, inst.id, mode.k), []), config, suite.name)
                for mode in modes for task in suite.tasks for inst in task.instances] if suite else []
        jobs += [_job(model, task, inst, mode, [], config, s.name)
                 for s in checked for mode in if_modes for task in s.tasks for inst in task.instances]
        start = time.perf_counter()
        completions, fresh = _generate(model, [j.request for j in jobs], config.chunk_size, progress)
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens for c in completions if not getattr(c, "cached", False))
        timing[model.label] = {"requests": len(jobs), "generated": fresh, "seconds": round(seconds, 2),
                               "completion_tokens": tokens, "tokens_per_second": round(tokens / seconds, 1) if fresh and seconds else None}
        generated += fresh
        rows += [_checked_row(model, job, completion) if job.task.metric == IF_METRIC
                 else _row(model, job, completion, contaminated[model.label]) for job, completion in zip(jobs, completions)]

    ref_rows = [r for r in rows if r["task_metric"] != IF_METRIC]
    failures = _report_failures(ref_rows, out)
    judge_teacher = _judge_teacher(config, judge, cache, prices, budget) if suite and (config.judge or judge) else None
    judge_summary = _judge(config, ref_rows, models, modes, judge_teacher, progress) if judge_teacher else None
    scores = _scores(config, suite, ref_rows, models, modes, judge_summary) if suite else EvalScores(
        model_labels=[m.label for m in models], modes=[m.name for m in if_modes])
    if checked:
        scores.instructions = {s.name: _instruction_scores(s, rows, models, if_modes, config) for s in checked}
    scores.models = [ModelInfo(**m.describe(), contaminated_tasks=sorted(contaminated[m.label])) for m in models]
    scores.contamination = {label: hits for label, hits in contaminated.items() if hits}
    scores.extraction_failures = _count_failures(failures)
    scores.judge = judge_summary
    scores.timing = timing
    scores.cost = {**usage_totals([m.teacher for m in models] + [judge_teacher]),
                   "budget": budget.summary() if budget is not None else None}
    scores.config = config.model_dump(mode="json")

    write_jsonl(out / "predictions.jsonl", rows)
    scores.write(out / "scores.json")
    from seedtune.evaluate.report import write_eval_report

    write_eval_report(out, scores, rows, suite, n_examples=config.examples)
    if cache is not None:
        cache.close()
    return EvalResult(output=out, scores=scores, predictions=rows, contamination=contaminated,
                      extraction_failures=len(failures), generated=generated)


def _check_pairs(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> None:
    for a, b in pairs:
        for label in (a, b):
            if label not in labels:
                raise ConfigError(f"compare names {label!r}, which is not a model label", key="compare",
                                  hint=f"the labels are: {', '.join(labels)}")


def _budget(config: EvalConfig) -> tuple[Any, Any]:
    """The price table and the hard budget every paid request of this evaluation draws on."""
    from seedtune.cache import Budget, PriceTable

    prices = PriceTable.from_setting(config.prices, config.max_cost, key="eval.prices")
    return prices, (Budget(config.max_cost, prices) if prices is not None and config.max_cost is not None else None)


def _load_suites(config: EvalConfig) -> tuple[Suite | None, list[Suite]]:
    """The reference-scored suite (at most one; None when every suite is verifiable) and the
    verifiable-instruction suites, each capped to `if_prompts` balanced prompts."""
    suites = [load_suite(name, on_error=config.on_error) for name in config.suites]
    reference = [s for s in suites if not s.verifiable]
    if len(reference) > 1:
        raise ConfigError(f"{len(reference)} suites scored against references: {', '.join(s.name for s in reference)}",
                          key="suites", hint="keep one of them (verifiable suites like heldout-if can be added freely), "
                                             "or run seedtune eval once per suite")
    for s in suites:
        if s.skipped:
            log.warning("%s: %d bad line(s) skipped (on_error=skip); they are listed in scores.json", s.source, len(s.skipped))
    checked = [capped(s, config.if_prompts, config.seed) for s in suites if s.verifiable]
    return (reference[0].limited(config.limit) if reference else None), checked


def _checked_modes(modes: Sequence[Mode]) -> list[Mode]:
    """Verifiable suites have no reference answers to demonstrate: they run zero-shot (and CoT)."""
    usable = [m for m in modes if not m.k]
    if not usable:
        raise ConfigError("verifiable-instruction suites have no demonstrations, so they need mode zero or cot",
                          key="modes", hint="add zero to modes, e.g. modes: [zero, \"few:2\"]")
    return usable


def _demos(suite: Suite, modes: Sequence[Mode], config: EvalConfig, encoder: Encoder | None) -> dict:
    needs_encoder = config.demos == "nearest" and any(mode.k for mode in modes)
    selector = DemoSelector(suite, config.demos, config.seed,
                            encoder or (sentence_encoder() if needs_encoder else None))
    return {(task.id, inst.id, mode.k): selector.select(task, inst, mode.k)
            for mode in modes if mode.k for task in suite.tasks for inst in task.instances}


def _report_failures(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    failures = [r for r in rows if not r["extraction"]["ok"]]
    for r in failures:
        log.info("answer extraction failed (%s, %s, %s, %s): %r", r["model"], r["mode"], r["task"],
                 r["instance"], r["raw_output"][:120])
    if failures:
        log.warning("%d of %d answers could not be extracted; each is listed in %s", len(failures), len(rows),
                    out / "extraction_failures.jsonl")
    write_jsonl(out / "extraction_failures.jsonl",
                [{k: r[k] for k in ("model", "mode", "task", "instance", "raw_output", "extraction", "references")}
                 for r in failures])
    return failures


def _scores(config: EvalConfig, suite: Suite, rows: list[dict[str, Any]], models: list[EvalModel],
            modes: list[Mode], judge_summary: dict[str, Any] | None) -> EvalScores:
    scores = aggregate(rows, suite, [m.label for m in models], [m.name for m in modes],
                       samples=config.bootstrap_samples, seed=config.seed, pairs=config.compare,
                       compare_previous=config.compare_previous)
    scores.suite = SuiteInfo(name=suite.name, tasks=len(suite.tasks), instances=suite.n_instances,
                             limit_per_task=config.limit, categories=suite.categories())
    judged = [t.id for t in suite.tasks if t.metric == "judge"]
    if judged and not (judge_summary and judge_summary.get("single")):
        scores.notes = [f"{len(judged)} task(s) are meant to be scored by an LLM judge; without --judge they were "
                           "scored with ROUGE-L against the reference."]
    return scores


def _instruction_scores(suite: Suite, rows: list[dict[str, Any]], models: list[EvalModel], modes: list[Mode],
                        config: EvalConfig) -> InstructionBlock:
    mine = [r for r in rows if r.get("suite") == suite.name and r["task_metric"] == IF_METRIC]
    result = aggregate_instructions(mine, [m.label for m in models], [m.name for m in modes],
                                    samples=config.bootstrap_samples, seed=config.seed,
                                    compare_previous=config.compare_previous, compare=config.compare)
    langs = sorted({t.lang for t in suite.tasks})
    result["suite"] = {"name": suite.name, "source": suite.source, "prompts": len(suite.tasks),
                       "instructions": sum(len(i.constraints) for t in suite.tasks for i in t.instances),
                       "langs": {lang: sum(t.lang == lang for t in suite.tasks) for lang in langs},
                       "prompts_cap": config.if_prompts, "max_new_tokens": config.if_max_new_tokens,
                       "skipped": len(suite.skipped), "skipped_lines": suite.skipped[:100]}
    return InstructionBlock.model_validate(result)


def _open_cache(config: EvalConfig) -> Any:
    if config.no_cache:
        return None
    from seedtune.cache import RequestCache

    return RequestCache(config.cache) if config.cache else RequestCache()


def _contamination(suite: Suite, model: EvalModel, train_files: Sequence[str]) -> dict[str, dict[str, Any]]:
    data = training_data(model.directory, train_files)
    for note in data.notes:
        log.warning("%s: %s", model.label, note)
    return {task: hit.to_dict() for task, hit in check_contamination(suite, data).items()}


def _stops(model: EvalModel) -> tuple[str, ...]:
    """Where a plain-format answer ends: the format's own stops, and the start of a new section or
    example. Base models answer and then keep writing "### Input: ..." or the next demonstration
    (seen with gemma-3-270m); an answer that itself has a "### " heading after a blank line is cut
    there too, an accepted cost."""
    fmt = model.fmt
    stops = list(fmt.stop) if fmt is not None else []
    if isinstance(fmt, AlpacaFormat):
        shared = _common_prefix(fmt.preamble, fmt.preamble_with_input).strip()
        stops += ["\n\n### ", "### Instruction:"] + ([shared] if shared else [])
    return tuple(s for s in dict.fromkeys(stops) if s)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _job(model: EvalModel, task: Task, inst: Instance, mode: Mode, demos: list, config: EvalConfig,
         suite: str = "") -> _Job:
    prompt = build_prompt(model.fmt, task, inst, demos, mode)
    max_tokens = config.cot_max_new_tokens if mode.cot else config.max_new_tokens
    if task.metric == IF_METRIC:
        max_tokens = max(max_tokens, config.if_max_new_tokens) if mode.cot else config.if_max_new_tokens
    params = dict(max_tokens=max_tokens, temperature=0.0, stop=_stops(model))
    if prompt.text is None or isinstance(model.fmt, ChatTemplateFormat):
        # Chat models get messages: the backend renders them with the same template (and knows
        # the template's text already holds the BOS token).
        request = Request.chat([{"role": r, "content": c} for r, c in prompt.messages], **params)
    else:
        request = Request(prompt=prompt.text, **params)
    return _Job(task, inst, mode, prompt, request, suite)


def _generate(model: EvalModel, requests: list[Request], chunk: int, progress: Progress | None) -> tuple[list, int]:
    """All of a model's requests in large chunks: the backend batches and length-sorts inside a
    chunk; each answer is in the cache as soon as its batch is decoded (resume after a kill)."""
    out = []
    before = getattr(model.teacher, "misses", 0)
    for start in range(0, len(requests), chunk):
        out += model.teacher.generate(requests[start:start + chunk])
        if progress:
            progress(f"generating ({model.label})", len(out), len(requests))
    fresh = getattr(model.teacher, "misses", len(requests)) - before
    return out, fresh


def _row(model: EvalModel, job: _Job, completion: Any, contaminated: Mapping[str, Any]) -> dict[str, Any]:
    task, inst, mode = job.task, job.instance, job.mode
    raw = completion.text
    text = clean_output(raw, job.request.stop)
    kind = answer_kind(inst.references, task.labels)
    ex = extract_answer(text, kind=kind, labels=task.labels, cot=mode.cot)
    metric_names = metrics_for(task.metric, task.is_classification)
    values = score(ex.answer, inst.references, metric_names)
    primary = task.metric if task.metric in values else "rouge_l"
    return {
        "suite": job.suite, "model": model.label, "mode": mode.name, "task": task.id, "category": task.category, "lang": task.lang,
        "instance": inst.id, "instruction": task.instruction_for(inst), "input": inst.input,
        "references": inst.references, "prompt": job.prompt.display(), "demos": list(job.prompt.demo_ids),
        "raw_output": raw, "response": text, "answer": ex.answer, "extraction": {"method": ex.method, "ok": ex.ok, "kind": kind},
        "task_metric": task.metric, "metric": primary, "score": values[primary], "scores": values, "cached": bool(getattr(completion, "cached", False)),
        "contaminated": task.id in contaminated,
    }


def _checked_row(model: EvalModel, job: _Job, completion: Any) -> dict[str, Any]:
    """A verifiable prompt's row: the whole answer is checked (no extraction), scored by its
    constraints; `score` is prompt-level strict, `scores` holds the four numbers of this answer."""
    task, inst = job.task, job.instance
    text = clean_output(completion.text, job.request.stop)
    checks = check_row(text, inst, task.instruction)
    values = row_scores(checks)
    return {
        "suite": job.suite, "model": model.label, "mode": job.mode.name, "task": task.id, "category": task.category,
        "lang": task.lang, "instance": inst.id, "instruction": task.instruction, "input": "", "references": [],
        "prompt": job.prompt.display(), "demos": [], "raw_output": completion.text, "response": text, "answer": text,
        "extraction": {"method": "whole", "ok": True, "kind": "verifiable"}, "task_metric": IF_METRIC,
        "metric": "prompt_strict", "score": values["prompt_strict"], "scores": values, "checks": checks,
        "cached": bool(getattr(completion, "cached", False)), "contaminated": False,
    }


def _count_failures(failures: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for r in failures:
        counts.setdefault(r["model"], {}).setdefault(r["mode"], 0)
        counts[r["model"]][r["mode"]] += 1
    return counts


def _judge_teacher(config: EvalConfig, judge_teacher: Teacher | None, cache: Any, prices: Any, budget: Any) -> Teacher:
    """The judge behind the cache; an endpoint judge is counted at `prices` and held to `budget`."""
    endpoint = False
    if judge_teacher is None:
        from seedtune.teachers import open_teacher, parse

        spec = parse(config.judge)
        endpoint = spec.info.endpoint
        # base_url is the evaluated servers' address; only an endpoint judge is one of them.
        judge_teacher = open_teacher(spec, base_url=config.base_url if endpoint else None,
                                     batch_size=config.batch_size, dtype=config.judge_dtype)
    paid = prices is not None and endpoint
    if cache is not None or paid:
        from seedtune.cache import CachedTeacher

        judge_teacher = CachedTeacher(judge_teacher, cache, prices=prices if paid else None,
                                      budget=budget if paid else None)
    return judge_teacher


def _judge(config: EvalConfig, rows: list[dict[str, Any]], models: list[EvalModel], modes: list[Mode],
           judge_teacher: Teacher, progress: Progress | None) -> dict[str, Any]:
    """Single-answer scores on every row, pairwise B-vs-A per mode; results go into the rows too."""
    judge_id = config.judge or getattr(judge_teacher, "model_id", "judge")
    verdict = resolve_verdict(config.judge_verdict, judge_id)
    judge = Judge(judge_teacher, max_tokens=config.judge_max_tokens, verdict=verdict)
    summary: dict[str, Any] = {"judge": judge_id, "verdict": verdict}

    if config.judge_check:
        summary.update(_check_judge(config, judge, rows, models[0].label, modes[0].name, progress))
        if summary.get("skipped"):
            return summary

    if "single" in config.judge_modes:
        if progress:
            progress("judging answers", 0, len(rows))
        # The judge reads the whole response (a CoT rationale included), not just the extracted answer.
        ratings = judge.score([SingleItem(user_text(r["instruction"], r["input"]), r["response"],
                                          r["references"][0] if r["references"] else "", r["lang"]) for r in rows])
        if progress:
            progress("judging answers", len(rows), len(rows))
        for r, rating in zip(rows, ratings):
            r["scores"]["judge"] = rating
            if r["task_metric"] == "judge" and rating is not None:
                # Open-ended tasks are scored by the judge: 1-10 rescaled to [0, 1].
                r["metric"], r["score"] = "judge", (rating - 1) / 9
        summary["single"] = {m.label: {mode.name: _mean_rating(rows, m.label, mode.name) for mode in modes} for m in models}
        summary["single_unparsed"] = sum(x is None for x in ratings)

    if "pairwise" in config.judge_modes and len(models) > 1:
        index = {(r["model"], r["mode"], r["task"], r["instance"]): r for r in rows}
        summary["pairwise"] = {}
        # Every model against the first, then the named pairs (e.g. all vs seeds-only).
        contrasts = [(models[0].label, other.label) for other in models[1:]] + [tuple(p) for p in config.compare]
        for base, other in contrasts:
            for mode in modes:
                pairs = [(index[(base, mode.name, r["task"], r["instance"])], r) for r in rows
                         if r["model"] == other and r["mode"] == mode.name]
                items = [PairItem(user_text(a["instruction"], a["input"]), a["response"], b["response"],
                                  a["references"][0] if a["references"] else "", a["lang"]) for a, b in pairs]
                if progress:
                    progress(f"judging {other} vs {base} ({mode.name})", 0, len(items))
                verdicts = judge.compare(items)
                if progress:
                    progress(f"judging {other} vs {base} ({mode.name})", len(items), len(items))
                for (a, b), v in zip(pairs, verdicts):
                    b.setdefault("judge_pairwise", {})[base] = v.to_dict()
                summary["pairwise"].setdefault(f"{other} vs {base}", {})[mode.name] = summarize_pairs(items, verdicts)
    return summary


def _check_judge(config: EvalConfig, judge: Judge, rows: list[dict[str, Any]], model: str, mode: str,
                 progress: Progress | None) -> dict[str, Any]:
    """Test the judge before believing it, on pairs built from the suite whose answer is known;
    {"check": ...} plus a warning, and "skipped" when its verdicts are not worth asking for."""
    instances = [{"question": user_text(r["instruction"], r["input"]), "input": r["input"],
                  "reference": r["references"][0] if r["references"] else "", "lang": r["lang"], "task": r["task"]}
                 for r in rows if (r["model"], r["mode"]) == (model, mode)]
    pairs = known_pairs(instances, config.judge_check, seed=config.seed)
    if progress:
        progress("checking the judge on known pairs", 0, len(pairs))
    check = check_judge(judge, pairs)
    if progress:
        progress("checking the judge on known pairs", len(pairs), len(pairs))
    if not check["n"] or check["reliable"]:
        return {"check": check}
    failed = (f"The judge preferred the known-right answer in {check['accuracy']:.0%} of {check['n']} check pairs "
              f"(chance is 50%, trusted from {RELIABLE_ACCURACY:.0%})")
    stronger = "Use a stronger judge (--judge openai:MODEL, or a larger local model)."
    if config.judge_if_unreliable:
        return {"check": check, "warning": f"{failed}: its verdicts below are not evidence. {stronger}"}
    # Verdicts from a judge that cannot tell a right answer from a wrong one cost minutes and
    # prove nothing (the quickstart's 135M judge returned 94 ties of 94): don't ask for them.
    return {"check": check, "skipped": True,
            "warning": f"{failed}, so it was not asked for verdicts. {stronger} judge_if_unreliable=true asks anyway."}


def _mean_rating(rows: list[dict[str, Any]], model: str, mode: str) -> float | None:
    values = [r["scores"].get("judge") for r in rows if r["model"] == model and r["mode"] == mode]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None

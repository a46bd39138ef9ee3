"""Verifiable-instruction suites in evaluation: the IFEval-layout reader (and its bad input),
the shipped heldout-if suite, scoring and aggregation, and evaluate() / `seedtune eval` with them."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from seedtune.errors import InputError
from seedtune.evaluate import EvalConfig, evaluate
from seedtune.evaluate.instructions import aggregate_instructions, capped
from seedtune.evaluate.suites import read_ifeval
from seedtune.evaluate.suites import load_suite
from seedtune.teachers import ScriptedTeacher

# Our own prompts, in IFEval's input_data.jsonl layout (kwargs with nulls, as the public file has).
IFEVAL_ROWS = [
    {"key": 1, "prompt": "Describe a harbour at dawn. Write everything in lower case.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
    {"key": 2, "prompt": "List three uses of a brick. Use exactly 3 markdown bullet points and do not use any commas.",
     "instruction_id_list": ["detectable_format:number_bullet_lists", "punctuation:no_comma"],
     "kwargs": [{"num_bullets": 3, "relation": None}, {}]},
    {"key": 3, "prompt": "Name a tree. Include the keyword oak.",
     "instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": ["oak"]}]},
    {"key": 4, "prompt": "用不超过20个字介绍熊猫，不要出现任何英文字母。",
     "instruction_id_list": ["zh:char_count", "zh:no_latin"], "kwargs": [{"num_chars": 20, "relation": "at most"}, {}]},
]

ANSWERS = {  # a model that follows every constraint
    1: "the boats sit still while the gulls wake up.",
    2: "* build walls\n* pave paths\n* prop doors",
    3: "An oak.",
    4: "熊猫爱吃竹子。",
}


def write_ifeval(path, rows, extra_lines=()):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ifeval_file(tmp_path):
    return write_ifeval(tmp_path / "input_data.jsonl", IFEVAL_ROWS)


def follower(request):
    prompt = request.messages[-1][1]
    return next(a for k, a in ANSWERS.items() if IFEVAL_ROWS[k - 1]["prompt"] in prompt)


def test_reader_builds_one_task_per_prompt(ifeval_file):
    suite = read_ifeval(ifeval_file)
    assert [t.id for t in suite.tasks] == ["1", "2", "3", "4"] and suite.verifiable
    assert suite.tasks[1].instances[0].constraints[0] == {"id": "detectable_format:number_bullet_lists", "kwargs": {"num_bullets": 3}}
    assert [t.category for t in suite.tasks] == ["seen", "seen", "held-out", "held-out"]
    assert [t.lang for t in suite.tasks] == ["en", "en", "en", "zh"]
    assert load_suite(f"ifeval:{ifeval_file}").name == "ifeval:input_data"


@pytest.mark.parametrize("row, line_field, words", [
    ({"key": 9, "prompt": "x", "instruction_id_list": ["keywords:existence", "no:such"], "kwargs": [{"keywords": ["a"]}, {}]},
     "instruction_id_list[1]", "unknown instruction id 'no:such'"),
    ({"key": 9, "prompt": "x", "instruction_id_list": ["length_constraints:number_words"],
      "kwargs": [{"num_words": "fifty", "relation": "less than"}]}, "kwargs[0].num_words", "non-negative integer"),
    ({"key": 9, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}, "kwargs", "one object per"),
    ({"key": 9, "prompt": "", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}, "prompt", "empty prompt"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, row, line_field, words):
    path = write_ifeval(tmp_path / "bad.jsonl", IFEVAL_ROWS[:2] + [row])
    with pytest.raises(InputError) as err:
        read_ifeval(path)
    assert err.value.line == 3 and err.value.field == line_field and str(path) in str(err.value)
    assert words in str(err.value)


def test_broken_json_and_skip_counts(tmp_path):
    bad_id = {"key": 7, "prompt": "x", "instruction_id_list": ["no:such"], "kwargs": [{}]}
    path = write_ifeval(tmp_path / "mixed.jsonl", IFEVAL_ROWS[:2], ['{"key": 5, "prompt": "broken', json.dumps(bad_id)])
    with pytest.raises(InputError) as err:
        read_ifeval(path)
    assert err.value.line == 3 and "not valid JSON" in str(err.value) and "--on-error skip" in err.value.hint
    suite = read_ifeval(path, on_error="skip")
    assert len(suite.tasks) == 2 and [s["line"] for s in suite.skipped] == [3, 4]
    assert suite.skipped[1]["field"] == "instruction_id_list[0]"


def test_ifeval_reader_skips_blank_lines_and_lines_that_are_not_objects(tmp_path):
    path = write_ifeval(tmp_path / "gaps.jsonl", IFEVAL_ROWS[:1], ["", "[1]"])
    with pytest.raises(InputError) as err:
        read_ifeval(path)
    assert err.value.line == 3 and "JSON object" in str(err.value) and "--on-error skip" in err.value.hint
    suite = read_ifeval(path, on_error="skip")
    assert len(suite.tasks) == 1 and suite.skipped == [{"line": 3, "field": None, "error": suite.skipped[0]["error"]}]


def test_heldout_if_suite_is_balanced_and_valid():
    suite = load_suite("heldout-if")
    assert len(suite.tasks) >= 240
    langs = Counter(t.lang for t in suite.tasks)
    assert langs["zh"] / len(suite.tasks) >= 0.35
    assert all(1 <= len(t.instances[0].constraints) <= 3 for t in suite.tasks)
    assert {t.category for t in suite.tasks} == {"seen", "held-out"}
    # the file's own split field agrees with the families its constraints belong to
    from seedtune.data import heldout_if_path

    rows = [json.loads(line) for line in heldout_if_path().read_text(encoding="utf-8").splitlines()]
    assert [r["split"] for r in rows] == [t.category for t in suite.tasks]
    # every registered checker id is exercised by the suite
    from seedtune.verifiable import CHECKERS

    assert {c["id"] for t in suite.tasks for c in t.instances[0].constraints} == set(CHECKERS)
    small = capped(suite, 60)
    assert len(small.tasks) == 60 and set(Counter((t.lang, t.category) for t in small.tasks).values()) == {15}


def test_heldout_if_prompts_are_not_near_duplicates_of_seed_tasks():
    """The same bar as the held-out suite (tests/test_data_shipped.py): no request reaches ROUGE-L
    0.7 against a seed instruction, with or without its constraint sentences."""
    from seedtune.data import load_seed_tasks
    from seedtune.textsim import rouge_l

    seeds = [t["instruction"] for t in load_seed_tasks()]
    suite = load_suite("heldout-if")
    texts = [(t.id, text) for t in suite.tasks for text in (t.instruction, t.instruction.split("\n\n")[0])]
    worst = max((rouge_l(text, seed), key, text, seed) for key, text in texts for seed in seeds)
    assert worst[0] < 0.7, worst
    # and the prompts are distinct from each other
    assert len({t.instruction.split("\n\n")[0] for t in suite.tasks}) == len(suite.tasks)


def test_aggregate_four_numbers_and_deltas():
    def row(model, task, strict, loose, lang="en", ids=None):
        ids = ids or ["punctuation:no_comma"] * len(strict)
        from seedtune.verifiable import family_of

        return {"model": model, "mode": "zero", "task": task, "lang": lang,
                "checks": {"ids": ids, "families": [family_of(i) for i in ids], "strict": strict, "loose": loose}}

    rows = [row("A", "1", [True, False], [True, True]), row("A", "2", [False], [False], "zh", ["keywords:existence"]),
            row("B", "1", [True, True], [True, True]), row("B", "2", [True], [True], "zh", ["keywords:existence"])]
    out = aggregate_instructions(rows, ["A", "B"], ["zero"], samples=200)
    a = out["results"]["A"]["zero"]
    assert (a["prompt_strict"], a["prompt_loose"], a["inst_strict"], a["inst_loose"]) == (0.0, 0.5, pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert a["splits"]["held-out"]["inst_strict"] == 0.0 and a["splits"]["seen"]["inst_loose"] == 1.0
    assert a["langs"]["zh"]["n_prompts"] == 1 and set(a["families"]) == {"punctuation", "keywords"}
    d = out["deltas"][0]
    assert d["overall"]["prompt_strict"]["delta"] == 1.0 and d["splits"]["held-out"]["inst_strict"]["delta"] == 1.0


def test_evaluate_reference_and_verifiable_suites_together(tmp_path, ifeval_file):
    ref = tmp_path / "suite.jsonl"
    ref.write_text(json.dumps({"id": "sum", "instruction": "What is the sum?", "category": "math", "lang": "en",
                               "metric": "exact_match", "instances": [{"input": "2 and 2", "output": "4"},
                                                                      {"input": "1 and 3", "output": "4"}]}) + "\n")
    base = ScriptedTeacher(default="I do not know, sorry.", model_id="base")
    tuned = ScriptedTeacher(default=lambda r: follower(r) if any(p["prompt"] in r.messages[-1][1] for p in IFEVAL_ROWS) else "4",
                            model_id="tuned")
    config = EvalConfig(models=["base", "tuned"], suites=[str(ref), f"ifeval:{ifeval_file}"], modes="zero,few:1",
                        output=str(tmp_path / "out"), no_cache=True, bootstrap_samples=200, if_max_new_tokens=300)
    result = evaluate(config, teachers={"base": base, "tuned": tuned})
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["suite"]["name"] == "suite" and "overall" in scores["results"]["tuned"]["zero"]
    block = scores["instructions"]["ifeval:input_data"]
    assert block["modes"] == ["zero"]  # no demonstrations for verifiable prompts
    tuned_zero = block["results"]["tuned"]["zero"]
    assert {k: tuned_zero[k] for k in ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")} == dict.fromkeys(
        ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose"), 1.0)
    assert block["deltas"][0]["overall"]["prompt_strict"]["delta"] > 0.5
    checked = [r for r in result.predictions if r["task_metric"] == "verifiable"]
    assert len(checked) == 2 * 4 and all(r["suite"] == "ifeval:input_data" for r in checked)
    assert max(len(r["raw_output"]) for r in checked) > 0
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Verifiable instructions: ifeval:input_data" in report and "held-out" in report


def test_cli_ifeval_file_alone_writes_the_four_numbers(tmp_path, ifeval_file, tiny_model_dir):
    from seedtune.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "-m", str(tiny_model_dir), "--suite", f"ifeval:{ifeval_file}", "-o", str(out),
                                      "if_max_new_tokens=4", f"cache={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    cell = scores["results"][scores["model_labels"][0]]["zero"]
    assert all(0.0 <= cell[k] <= 1.0 for k in ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose"))
    assert "verifiable instructions" in result.output and (out / "report.html").exists()


def test_cli_on_error_skip(tmp_path, tiny_model_dir):
    from seedtune.cli import app

    path = write_ifeval(tmp_path / "input_data.jsonl", IFEVAL_ROWS, ["not json"])
    result = CliRunner().invoke(app, ["eval", "-m", str(tiny_model_dir), "--suite", f"ifeval:{path}", "-o", str(tmp_path / "o")])
    assert isinstance(result.exception, InputError) and result.exception.line == 5
    result = CliRunner().invoke(app, ["eval", "-m", str(tiny_model_dir), "--suite", f"ifeval:{path}", "--on-error", "skip",
                                      "-o", str(tmp_path / "o"), "if_max_new_tokens=2", f"cache={tmp_path / 'c.sqlite'}"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert scores["instructions"]["ifeval:input_data"]["suite"]["skipped"] == 1


def test_suite_and_suites_config():
    cfg = EvalConfig(models=["m"], output="o", suite="heldout-if")
    assert cfg.suites == ["heldout-if"] and cfg.suite == "heldout-if"
    cfg = EvalConfig(models=["m"], output="o", suites="heldout,heldout-if")
    assert cfg.suites == ["heldout", "heldout-if"] and cfg.suite == "heldout"
    assert EvalConfig.model_validate(cfg.model_dump()).suites == cfg.suites  # a dumped config reloads
    from seedtune.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        EvalConfig(models=["m"], output="o", suite="x.jsonl", suites=["heldout"])
    assert err.value.key == "suite"


def test_two_reference_suites_are_refused_and_few_shot_only_is_refused(tmp_path, ifeval_file):
    from seedtune.errors import ConfigError

    teacher = ScriptedTeacher(default="x")
    with pytest.raises(ConfigError) as err:
        evaluate(EvalConfig(models=["m"], suites=["heldout", "heldout"],
                            output=str(tmp_path / "o"), no_cache=True), teachers={"m": teacher})
    assert err.value.key == "suites"
    with pytest.raises(ConfigError) as err:
        evaluate(EvalConfig(models=["m"], suites=[f"ifeval:{ifeval_file}"], modes=["few:2"], output=str(tmp_path / "o"),
                            no_cache=True), teachers={"m": teacher})
    assert err.value.key == "modes"

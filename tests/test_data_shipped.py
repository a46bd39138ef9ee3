"""The shipped seed tasks and held-out suite: counts, schema, content checks and unseen-ness.

The suite only proves something if its tasks are genuinely unseen: no suite instruction may be
a near-duplicate of a seed instruction (ROUGE-L F >= 0.7, Self-Instruct's own novelty bar) and no
suite input may appear in the seeds. Content checks that a program can do (sorting, primality,
dates, e-mail and phone extraction) are done here so a typo in a reference fails a test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from seedtune.data import (
    CATEGORIES,
    METRICS,
    check_tasks,
    heldout_suite_path,
    load_heldout_suite,
    load_seed_tasks,
    seed_tasks_path,
)
from seedtune.errors import InputError
from seedtune.textsim import detect_lang, rouge_l

NEAR_DUP = 0.7


@pytest.fixture(scope="module")
def seeds() -> list[dict]:
    return load_seed_tasks()


@pytest.fixture(scope="module")
def suite() -> list[dict]:
    return load_heldout_suite()


def _by_name(tasks: list[dict], name: str) -> dict:
    return next(t for t in tasks if t["name"] == name)


# ---------------------------------------------------------------- files and loaders


def test_paths_point_at_packaged_files():
    for path in (seed_tasks_path(), heldout_suite_path()):
        assert path.is_file(), path
        assert path.suffix == ".jsonl"
        # one JSON object per line, no blank lines, ends with a newline (diff-friendly)
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n") and "\n\n" not in text


def test_loaders_keep_file_order_and_sequential_ids(seeds, suite):
    assert [t["id"] for t in seeds] == [f"seed_task_{i}" for i in range(len(seeds))]
    assert [t["id"] for t in suite] == [f"heldout_task_{i}" for i in range(len(suite))]


def test_a_task_file_is_read_with_its_broken_line_named(tmp_path: Path):
    from seedtune.formats import read_rows

    bad = tmp_path / "tasks.jsonl"
    good = json.dumps({"id": "a", "instruction": "x", "instances": []})
    bad.write_text(good + "\n" + '{"id": "b", "instruction": \n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_rows(bad)
    assert info.value.line == 2 and "line 2" in str(info.value)
    not_object = tmp_path / "list.jsonl"
    not_object.write_text(good + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_rows(not_object)


# ---------------------------------------------------------------- schema


def test_seed_schema_is_valid(seeds):
    assert check_tasks(seeds) == []


def test_suite_schema_is_valid_with_five_instances_each(suite):
    assert check_tasks(suite, suite=True, min_instances=5) == []
    assert all(len(t["instances"]) >= 5 for t in suite)


def test_ids_and_names_unique_across_both_files(seeds, suite):
    ids = [t["id"] for t in seeds + suite]
    names = [t["name"] for t in seeds + suite]
    assert len(set(ids)) == len(ids)
    assert len(set(names)) == len(names), [n for n, c in Counter(names).items() if c > 1]
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)


def test_check_tasks_reports_each_kind_of_problem():
    good = {
        "id": "t0", "name": "t", "instruction": "Say yes.", "is_classification": True,
        "category": "classification", "lang": "en", "metric": "accuracy", "labels": ["yes", "no"],
        "instances": [{"input": "a", "output": "yes"}, {"input": "b", "output": "no"}],
    }
    assert check_tasks([good], suite=True, min_instances=2) == []
    cases = {
        "field 'instruction' missing": {**good, "instruction": None},
        "not in labels": {**good, "instances": [{"input": "a", "output": "maybe"}, {"input": "b", "output": "no"}]},
        "field 'metric'": {**good, "metric": "f1"},
        "unknown category": {**good, "category": "poetry"},
        "field 'lang'": {**good, "lang": "fr"},
        "empty output": {**good, "instances": [{"input": "a", "output": " "}, {"input": "b", "output": "no"}]},
        "exactly the keys": {**good, "instances": [{"input": "a", "output": "yes", "note": 1}, {"input": "b", "output": "no"}]},
        "share the same input": {**good, "instances": [{"input": "a", "output": "yes"}, {"input": "a", "output": "no"}]},
        "need at least 2": {**good, "instances": [{"input": "a", "output": "yes"}]},
        "needs 'labels'": {**good, "labels": None},
    }
    for expected, task in cases.items():
        problems = check_tasks([task], suite=True, min_instances=2)
        assert any(expected in p for p in problems), (expected, problems)
    duplicated = check_tasks([good, dict(good)], suite=True)
    assert any("id duplicates" in p for p in duplicated)
    assert any("name 't' duplicates" in p for p in duplicated)
    not_cls = {**good, "is_classification": False, "metric": "exact_match"}
    assert any("'labels' given" in p for p in check_tasks([not_cls], suite=True))


# ---------------------------------------------------------------- counts and coverage


def test_seed_counts(seeds):
    assert len(seeds) >= 150
    categories = Counter(t["category"] for t in seeds)
    assert len(categories) >= 12
    required = {"translation", "open_qa", "closed_qa", "summarization", "sentiment", "classification",
                "code_generation", "rewriting", "extraction", "math_reasoning", "brainstorming", "dialogue"}
    assert required <= set(categories)
    zh_share = sum(t["lang"] == "zh" for t in seeds) / len(seeds)
    assert zh_share >= 0.25, zh_share
    # Self-Instruct mixes instruction-only tasks with tasks that read an input.
    empty = sum(all(not i["input"] for i in t["instances"]) for t in seeds)
    assert 0.15 * len(seeds) <= empty <= 0.6 * len(seeds), empty


def test_seed_translation_covers_directions(seeds):
    directions = set()
    for task in seeds:
        if task["category"] != "translation":
            continue
        for inst in task["instances"]:
            src = detect_lang(inst["input"] or task["instruction"])
            out = inst["output"]
            tgt = "fr" if re.search(r"[àâçéèêëîïôûùœ]|\b(je|le|la|les|vous|pour)\b", out, re.I) else detect_lang(out)
            directions.add((src, tgt))
    assert {("zh", "en"), ("en", "zh"), ("en", "fr"), ("zh", "fr")} <= directions, directions


def test_suite_counts(seeds, suite):
    assert len(suite) >= 40
    categories = {t["category"] for t in suite}
    assert len(categories) >= 10
    # unseen tasks, familiar skills: every suite category is also a seed category
    assert categories <= {t["category"] for t in seeds}
    assert categories <= set(CATEGORIES)
    langs = Counter(t["lang"] for t in suite)
    assert langs["zh"] / len(suite) >= 0.25 and langs["en"] > 0
    metrics = Counter(t["metric"] for t in suite)
    # every metric but chrf, which is reported beside bleu on translation tasks rather than chosen
    assert set(metrics) == set(METRICS) - {"chrf"}, metrics
    # most of the suite must be automatically checkable, not judged
    assert metrics["judge"] <= 0.2 * len(suite)


def test_lang_field_matches_the_text(seeds, suite):
    for task in seeds + suite:
        assert detect_lang(task["instruction"]) == task["lang"], task["name"]
    # Chinese seeds teach Chinese answers (translation and code excepted: their output is
    # another language or code by design); English seeds answer in English.
    for task in seeds:
        if task["category"] in ("translation", "code_generation", "code_understanding"):
            continue
        for inst in task["instances"]:
            assert detect_lang(inst["output"]) == task["lang"], (task["name"], inst["output"])


def test_classification_flags_follow_category(seeds, suite):
    for task in seeds + suite:
        if task["category"] in ("sentiment", "classification"):
            assert task["is_classification"], task["name"]
        elif task in seeds:
            assert not task["is_classification"], task["name"]


def test_suite_classification_outputs_in_labels(suite):
    cls = [t for t in suite if t["is_classification"]]
    assert len(cls) >= 6
    for task in cls:
        assert task["metric"] == "accuracy"
        outputs = {i["output"] for i in task["instances"]}
        assert outputs <= set(task["labels"]), task["name"]
        assert len(outputs) >= 2, f"{task['name']}: all references share one label"


def test_french_apple_example(suite):
    hits = [t for t in suite if any(i["input"] == "我喜欢吃苹果。" for i in t["instances"])]
    assert len(hits) == 1
    task = hits[0]
    assert task["category"] == "translation" and task["metric"] == "bleu"
    assert "French" in task["instruction"]
    assert {"input": "我喜欢吃苹果。", "output": "J'aime manger des pommes."} in task["instances"]


def test_seed_math_shows_reasoning_then_answer(seeds):
    math = [t for t in seeds if t["category"] == "math_reasoning"]
    assert len(math) >= 10
    for task in math:
        out = task["instances"][0]["output"]
        *steps, last = out.split("\n")
        assert steps, f"{task['name']}: no worked reasoning"
        assert re.match(r"(Answer: |答案：)\S", last), (task["name"], last)


# ---------------------------------------------------------------- unseen-ness


def test_no_suite_instruction_near_duplicates_a_seed(seeds, suite):
    worst = max(
        ((rouge_l(s["instruction"], t["instruction"]), s["name"], t["name"]) for s in suite for t in seeds),
    )
    assert worst[0] < NEAR_DUP, worst


def test_seed_instructions_are_mutually_distinct(seeds):
    # Self-Instruct admits a generated instruction only below 0.7 ROUGE-L to the pool; the seeds
    # themselves should already meet the bar the generator will hold new tasks to.
    worst = max(
        (rouge_l(a["instruction"], b["instruction"]), a["name"], b["name"])
        for i, a in enumerate(seeds)
        for b in seeds[i + 1 :]
    )
    assert worst[0] < NEAR_DUP, worst


def test_no_suite_input_appears_in_the_seeds(seeds, suite):
    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    seed_inputs = {norm(i["input"]) for t in seeds for i in t["instances"] if i["input"].strip()}
    seed_texts = [norm(x) for t in seeds for x in [t["instruction"]] + [v for i in t["instances"] for v in i.values()]]
    for task in suite:
        for inst in task["instances"]:
            text = norm(inst["input"])
            assert text not in seed_inputs, (task["name"], text)
            if len(text) >= 8:  # short inputs ("Gold", "17") occur in any text by chance
                assert not any(text in s for s in seed_texts), (task["name"], text)


def test_no_seed_input_is_close_to_a_suite_input(seeds, suite):
    # What curation's decontamination filter checks on training data: a seed whose input nearly
    # repeats a suite input would leak the suite into training.
    seed_inputs = [i["input"] for t in seeds for i in t["instances"] if len(i["input"]) >= 15]
    worst = max(
        (rouge_l(inst["input"], s), inst["input"], s)
        for t in suite
        for inst in t["instances"]
        if len(inst["input"]) >= 15
        for s in seed_inputs
    )
    assert worst[0] < NEAR_DUP, worst


def test_english_overlap_agrees_with_rouge_score(seeds, suite):
    """Sanity: on English text our ROUGE-L is the `rouge-score` package's, and stays < 0.7."""
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    en_seeds = [t["instruction"] for t in seeds if t["lang"] == "en"]
    worst = 0.0
    for task in suite:
        if task["lang"] != "en":
            continue
        for seed in en_seeds:
            theirs = scorer.score(seed, task["instruction"])["rougeL"].fmeasure
            assert rouge_l(task["instruction"], seed) == pytest.approx(theirs, abs=1e-9)
            worst = max(worst, theirs)
    assert 0.0 < worst < NEAR_DUP


# ---------------------------------------------------------------- references a program can check


def _numbers(text: str, sep: str) -> list[float]:
    return [float(x) for x in text.split(sep)]


def test_suite_sorting_references(suite):
    for inst in _by_name(suite, "alphabetical_order")["instances"]:
        assert inst["output"].split(", ") == sorted(inst["input"].split(", "), key=str.lower)
    for inst in _by_name(suite, "numbers_descending")["instances"]:
        got = _numbers(inst["output"], ", ")
        assert got == sorted(_numbers(inst["input"], ", "), reverse=True)
    for inst in _by_name(suite, "zh_numbers_ascending")["instances"]:
        assert _numbers(inst["output"], "、") == sorted(_numbers(inst["input"], "、"))


def test_suite_prime_references(suite):
    def is_prime(n: int) -> bool:
        return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

    for inst in _by_name(suite, "is_prime_number")["instances"]:
        assert inst["output"] == ("yes" if is_prime(int(inst["input"])) else "no"), inst


def test_suite_extraction_references(suite):
    for inst in _by_name(suite, "email_addresses")["instances"]:
        found = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", inst["input"])
        assert inst["output"] == ", ".join(found)
    for inst in _by_name(suite, "zh_mobile_numbers")["instances"]:
        assert inst["output"] == "、".join(re.findall(r"1\d{10}", inst["input"]))
    for inst in _by_name(suite, "date_to_iso")["instances"]:
        date = dt.date.fromisoformat(inst["output"])
        assert str(date.year) in inst["input"] and str(date.day) in inst["input"]
        assert date.strftime("%B") in inst["input"]


def test_suite_numeric_references_are_plain_numbers(suite):
    for task in suite:
        if task["category"] == "math_reasoning" and task["metric"] == "exact_match":
            for inst in task["instances"]:
                assert re.fullmatch(r"-?\d+(\.\d+)?", inst["output"]), (task["name"], inst["output"])


def test_suite_python_output_references():
    import contextlib
    import io

    for inst in _by_name(load_heldout_suite(), "predict_python_output")["instances"]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(inst["input"], {})  # our own shipped snippets, not user input
        assert buffer.getvalue().strip() == inst["output"]


# ---------------------------------------------------------------- the formats reader agrees


def test_records_reader_reads_both_files(seeds, suite):
    formats = pytest.importorskip("seedtune.formats")
    if not hasattr(formats, "read_records"):
        pytest.skip("seedtune.formats.read_records not available")
    records = formats.read_records(seed_tasks_path())
    assert len(records) == sum(len(t["instances"]) for t in seeds)
    assert {r.category for r in records} == {t["category"] for t in seeds}
    held = formats.read_records(heldout_suite_path())
    assert len(held) == sum(len(t["instances"]) for t in suite)
    assert all(r.lang in ("en", "zh") for r in records + held)

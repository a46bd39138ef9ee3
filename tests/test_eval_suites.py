"""Suites in every layout, bad input errors, and the contamination (unseen-task) check."""

from __future__ import annotations

import json

import pytest

from seedtune.errors import InputError
from seedtune.evaluate import contamination
from seedtune.evaluate.suites import load_suite


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


SUITE = [
    {"id": "tr", "instruction": "Translate the sentence into French.", "category": "translation", "lang": "en",
     "metric": "bleu", "instances": [{"input": "我喜欢吃苹果。", "output": "J'aime manger des pommes."},
                                     {"input": "今天很冷。", "output": "Il fait froid aujourd'hui."}]},
    {"id": "sent", "instruction": "判断评论的情感。", "category": "sentiment", "lang": "zh", "metric": "accuracy",
     "is_classification": True, "labels": ["正面", "负面"],
     "instances": [{"input": "很好看", "output": "正面"}, {"input": "太差了", "output": "负面"}, {"input": "喜欢", "output": "正面"}]},
]


def test_heldout_suite_loads_by_name():
    suite = load_suite("heldout")
    assert len(suite.tasks) >= 10 and all(len(t.instances) >= 5 for t in suite.tasks)
    assert any("我喜欢吃苹果" in i.input for t in suite.tasks for i in t.instances)
    assert {t.metric for t in suite.tasks} <= {"rouge_l", "exact_match", "accuracy", "bleu", "chrf", "judge"}


def test_self_instruct_layout_with_our_keys(tmp_path):
    suite = load_suite(_jsonl(tmp_path / "s.jsonl", SUITE))
    tr, sent = suite.tasks
    assert (tr.metric, tr.category, sent.lang, sent.labels) == ("bleu", "translation", "zh", ["正面", "负面"])
    assert sent.is_classification and sent.instances[1].references == ["负面"]
    assert suite.limited(1).n_instances == 2 and suite.n_instances == 5


def test_human_eval_layout(tmp_path):
    rows = [{"id": "user_oriented_task_0", "motivation_app": "Grammarly", "instruction": "Fix the grammar.",
             "instances": [{"input": "He go to school.", "output": "He goes to school."}]}]
    task = load_suite(_jsonl(tmp_path / "user_oriented_instructions.jsonl", rows)).tasks[0]
    assert (task.id, task.category, task.metric) == ("user_oriented_task_0", "Grammarly", "rouge_l")


def test_superni_task_json(tmp_path):
    data = {"Definition": ["Classify the sentiment of the tweet."], "Categories": ["Sentiment Analysis Classification"],
            "Input_language": ["English"], "Positive Examples": [{"input": "I love it", "output": "positive", "explanation": "."}],
            "Instances": [{"id": "task1-1", "input": "great day", "output": ["positive"]},
                          {"id": "task1-2", "input": "awful", "output": ["negative", "neg"]}]}
    path = tmp_path / "task1_sentiment.json"
    path.write_text(json.dumps(data))
    task = load_suite(path).tasks[0]
    assert task.instruction == "Classify the sentiment of the tweet." and task.metric == "accuracy"
    assert task.instances[1].references == ["negative", "neg"] and task.demos[0].references == ["positive"]
    assert load_suite(tmp_path).tasks[0].id == "task1_sentiment"  # a folder of task files


def test_every_layout_defaults_translation_to_the_same_metric(tmp_path):
    superni = {"Definition": ["Translate into German."], "Categories": ["Translation"], "Positive Examples": [],
               "Instances": [{"id": "t-1", "input": "good day", "output": ["guten Tag"]}]}
    (tmp_path / "task2_translate.json").write_text(json.dumps(superni))
    rows = [{"instruction": "Translate into German.", "category": "translation",
             "instances": [{"input": "good day", "output": "guten Tag"}]}]
    records = [{"instruction": "Translate into German.", "input": "good day", "output": "guten Tag",
                "category": "translation"}]
    metrics = {load_suite(tmp_path / "task2_translate.json").tasks[0].metric,
               load_suite(_jsonl(tmp_path / "si.jsonl", rows)).tasks[0].metric,
               load_suite(_jsonl(tmp_path / "records.jsonl", records)).tasks[0].metric}
    assert metrics == {"chrf"}


def test_record_file_groups_by_task(tmp_path):
    rows = [{"instruction": "Name the capital.", "input": "France", "output": "Paris", "task": "capitals", "category": "open_qa"},
            {"instruction": "Name the capital.", "input": "Japan", "output": "Tokyo", "task": "capitals", "category": "open_qa"},
            {"instruction": "Add the numbers.", "input": "2 3", "output": "5"}]
    suite = load_suite(_jsonl(tmp_path / "records.jsonl", rows))
    assert [len(t.instances) for t in suite.tasks] == [2, 1] and suite.tasks[0].id == "capitals"


@pytest.mark.parametrize("row, field", [
    ({"instruction": "", "instances": [{"input": "", "output": "x"}]}, "instruction"),
    ({"instruction": "Do it.", "instances": []}, "instances"),
    ({"instruction": "Do it.", "metric": "bleurt", "instances": [{"input": "", "output": "x"}]}, "metric"),
])
def test_bad_suite_rows_name_line_and_field(tmp_path, row, field):
    path = _jsonl(tmp_path / "bad.jsonl", [SUITE[0], row])
    with pytest.raises(InputError) as err:
        load_suite(path)
    assert err.value.line == 2 and err.value.field == field and "bad.jsonl" in str(err.value)


def test_suite_lines_are_split_on_newlines_only_and_blank_lines_skipped(tmp_path):
    """U+2028/U+2029/U+0085 written raw inside a string are text, not line breaks; a blank line
    is skipped but still counted, so a later error names the line an editor shows."""
    odd = dict(SUITE[0], instruction="Translate the sentence\u2028into French.\u2029\u0085")
    path = tmp_path / "odd.jsonl"
    bad = {"instruction": "", "instances": [{"input": "", "output": "x"}]}
    path.write_text(json.dumps(odd, ensure_ascii=False) + "\n\n" + json.dumps(SUITE[1], ensure_ascii=False) + "\n",
                    encoding="utf-8")
    suite = load_suite(path)
    assert len(suite.tasks) == 2 and "\u2028" in suite.tasks[0].instruction
    path.write_text(path.read_text(encoding="utf-8") + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_suite(path)
    assert err.value.line == 5 and err.value.field == "instruction"


def test_suite_not_utf8_names_file_line_and_what_to_do(tmp_path):
    path = tmp_path / "latin.jsonl"
    row = {"instruction": "Traduisez: caf\xe9", "instances": [{"input": "coffee", "output": "caf\xe9"}]}
    path.write_bytes((json.dumps(SUITE[0]) + "\n" + json.dumps(row, ensure_ascii=False) + "\n").encode("latin-1"))
    with pytest.raises(InputError) as err:
        load_suite(path)
    assert "latin.jsonl" in str(err.value) and err.value.line == 2 and "not UTF-8" in str(err.value)
    assert "UTF-8" in err.value.hint


def test_suite_line_that_is_not_an_object_is_located(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text(json.dumps(SUITE[0]) + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_suite(path)
    assert err.value.line == 2 and "JSON object" in str(err.value)


def test_missing_suite_file_says_what_to_do(tmp_path):
    with pytest.raises(InputError) as err:
        load_suite(tmp_path / "nope.jsonl")
    assert "heldout" in (err.value.hint or "")


def test_contamination_by_ngram_and_by_instruction(tmp_path):
    suite = load_suite(_jsonl(tmp_path / "s.jsonl", SUITE))
    train = _jsonl(tmp_path / "train.jsonl", [
        {"instruction": "Please translate this sentence into French.", "input": "x", "output": "y"},  # ROUGE-L 0.8
        {"instruction": "Write a poem.", "input": "", "output": "unrelated"},
    ])
    data = contamination.training_data(None, [train])
    hits = contamination.check(suite, data)
    assert set(hits) == {"tr"} and hits["tr"].reason == "rouge-l" and hits["tr"].score >= 0.7
    # 13 shared tokens in a row (Chinese characters count one each) are caught under another instruction.
    leak = _jsonl(tmp_path / "leak.jsonl", [{"instruction": "Put this into French.", "input": "我喜欢吃苹果。",
                                             "output": "J'aime manger des pommes."}])
    hits = contamination.check(suite, contamination.training_data(None, [leak]))
    assert set(hits) == {"tr"} and hits["tr"].reason == "13-gram"


def test_contamination_from_lineage_json(tmp_path):
    suite = load_suite(_jsonl(tmp_path / "s.jsonl", SUITE))
    run = tmp_path / "run"
    (run / "2-curate").mkdir(parents=True)
    train = _jsonl(run / "2-curate" / "train.jsonl", [{"instruction": "Translate the sentence into French.", "output": "x"}])
    model = run / "3-train" / "model"
    model.mkdir(parents=True)
    from seedtune.io import sha256_file

    (model / "lineage.json").write_text(json.dumps({"data_file": "train.jsonl", "data_sha256": sha256_file(train)}))
    data = contamination.training_data(model, [])
    assert data.sources and not data.notes and "tr" in contamination.check(suite, data)
    (model / "lineage.json").write_text(json.dumps({"data_file": "train.jsonl", "data_sha256": "0" * 64}))
    data = contamination.training_data(model, [])
    assert not data.texts and "--train-data" in data.notes[0]

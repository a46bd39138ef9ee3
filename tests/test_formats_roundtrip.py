"""Every format, English and Chinese: write -> read gives the same content back.

Formats that can carry all of a Record (JSONL, CSV/TSV, Parquet, HF datasets, and the chat and
Alpaca formats with `provenance=True`) must give back equal Records; the others must give back
the same conversation (what a model is trained on).
"""

from __future__ import annotations

import pytest

from seedtune.formats import FORMATS, read_records, write_records
from seedtune.records import Record


def english() -> list[Record]:
    return [
        Record(instruction="Translate to French.", input="Good morning, everyone.", output="Bonjour à tous.",
               category="translation", task="translate_fr", source="seed", is_classification=False),
        Record(instruction="Is this review positive or negative?", input='He said "great", then left; meh.',
               output="negative", is_classification=True, category="sentiment", scores={"judge": 4.5},
               parent_ids=["a1", "b2"], round=1, teacher="smollm2-135m-instruct", source="self-instruct",
               kept_reason="novel", meta={"method": "classification-first", "n": 3}),
        Record(instruction="Write a haiku about rain.", output="Soft rain on the roof\nline two\n\tline three",
               system="You are a poet."),
        Record(instruction="Hello", messages=[{"role": "user", "content": "Hello"},
                                               {"role": "assistant", "content": "Hi! How can I help?"},
                                               {"role": "user", "content": "Tell me a joke."},
                                               {"role": "assistant", "content": "Why did the chicken cross the road?"}],
               output="Why did the chicken cross the road?"),
    ]


def chinese() -> list[Record]:
    return [
        Record(instruction="把下面的句子翻译成英文。", input="今天天气很好，我们去公园吧。",
               output="The weather is nice today; let's go to the park.", category="translation", task="zh_en",
               source="seed"),
        Record(instruction="判断这条评论的情感。", input="菜很好吃，但是服务太慢了，“一般般”。", output="中性",
               is_classification=True, category="sentiment", scores={"rouge_l": 0.25}, round=2,
               parent_ids=["x"], source="evol-instruct", meta={"进化": "深化"}),
        Record(instruction="写一首关于秋天的五言绝句。", output="秋风吹落叶，\n寒雁过长空。", system="你是一位诗人。"),
        Record(instruction="你好", messages=[{"role": "user", "content": "你好"},
                                              {"role": "assistant", "content": "你好！有什么可以帮你？"},
                                              {"role": "user", "content": "推荐一本书。"},
                                              {"role": "assistant", "content": "《红楼梦》。"}],
               output="《红楼梦》。"),
    ]


LANGS = {"en": english, "zh": chinese}
EXACT = {"jsonl": "r.jsonl", "csv": "r.csv", "tsv": "r.tsv", "parquet": "r.parquet", "hf": "ds"}
CONTENT = {"alpaca": "r.json", "sharegpt": "r.json", "messages": "r.jsonl"}


def test_every_registered_format_is_covered():
    assert set(EXACT) | set(CONTENT) | {"seed_tasks"} == set(FORMATS)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", EXACT)
def test_lossless_formats_round_trip_exactly(tmp_path, fmt, lang):
    records = LANGS[lang]()
    path = tmp_path / EXACT[fmt]
    assert write_records(path, records, format=fmt) == len(records)
    assert read_records(path) == records  # detected from the name / folder
    assert read_records(path, format=fmt) == records


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", CONTENT)
def test_chat_and_alpaca_round_trip_content(tmp_path, fmt, lang):
    records = LANGS[lang]()
    path = tmp_path / CONTENT[fmt]
    write_records(path, records, format=fmt)
    back = read_records(path, format=fmt)
    assert [r.conversation() for r in back] == [r.conversation() for r in records]
    if fmt == "alpaca":  # Alpaca keeps input apart from the instruction
        assert [(r.instruction, r.input, r.output) for r in back[:3]] == \
               [(r.instruction, r.input, r.output) for r in records[:3]]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", CONTENT)
def test_chat_and_alpaca_with_provenance_round_trip_exactly(tmp_path, fmt, lang):
    records = LANGS[lang]()
    path = tmp_path / CONTENT[fmt]
    write_records(path, records, format=fmt, provenance=True)
    back = read_records(path, format=fmt)
    if fmt == "alpaca":
        assert back == records
    else:  # a chat turn cannot tell instruction from input, so those merge into one user turn
        assert [r.conversation() for r in back] == [r.conversation() for r in records]
        assert [(r.source, r.scores, r.parent_ids, r.round, r.category, r.meta) for r in back] == \
               [(r.source, r.scores, r.parent_ids, r.round, r.category, r.meta) for r in records]


@pytest.mark.parametrize("lang", LANGS)
def test_seed_tasks_round_trip(tmp_path, lang):
    records = [r for r in LANGS[lang]() if not r.messages]
    path = tmp_path / "seed_tasks.jsonl"
    n_tasks = write_records(path, records, format="seed_tasks")
    assert n_tasks == len({(r.task, r.instruction) for r in records})
    back = read_records(path)
    assert [(r.instruction, r.input, r.output) for r in back] == [(r.instruction, r.input, r.output) for r in records]
    assert [r.category for r in back] == [r.category for r in records]
    assert [bool(r.is_classification) for r in back] == [bool(r.is_classification) for r in records]
    assert all(r.source == "seed" for r in back)
    # writing what we read gives the same file: the layout is stable
    write_records(tmp_path / "again.jsonl", back, format="seed_tasks")
    assert (tmp_path / "again.jsonl").read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt,name", [("jsonl", "e.jsonl"), ("alpaca", "e.json"), ("csv", "e.csv"),
                                      ("parquet", "e.parquet"), ("hf", "e"), ("sharegpt", "e.json")])
def test_empty_file_round_trips(tmp_path, fmt, name):
    assert write_records(tmp_path / name, [], format=fmt) == 0
    assert read_records(tmp_path / name, format=fmt) == []


def test_writes_are_atomic_and_replace_old_output(tmp_path):
    path = tmp_path / "out.jsonl"
    write_records(path, english())
    write_records(path, chinese()[:1])
    assert read_records(path) == chinese()[:1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp files left behind


def test_hf_write_refuses_to_replace_a_foreign_folder(tmp_path):
    from seedtune.errors import InputError

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="refusing"):
        write_records(folder, english(), format="hf")
    assert (folder / "notes.txt").read_text() == "keep me"
    write_records(tmp_path / "ds", english(), format="hf")
    write_records(tmp_path / "ds", chinese(), format="hf")  # a saved dataset may be replaced
    assert read_records(tmp_path / "ds") == chinese()

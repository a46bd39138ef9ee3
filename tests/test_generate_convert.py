"""FLAN-style conversion: every template variant renders, zero/few-shot and options mixes, label
names, qa and generation kinds, located errors, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seedtune.errors import ConfigError, InputError
from seedtune.generate.convert import ConvertConfig, convert_dataset, variants


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["classification", "qa", "generation"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_kind_has_several_templates_per_language(kind, lang):
    assert len(variants(kind, lang)) >= 4


def test_classification_mix_of_templates_shots_and_options(tmp_path):
    data = [{"sentence": f"review number {i} was {'great' if i % 2 else 'awful'}", "label": i % 2} for i in range(40)]
    inp = write_jsonl(tmp_path / "sst.jsonl", data)
    config = ConvertConfig(columns={"text": "sentence"}, label_names={"0": "negative", "1": "positive"},
                           templates_per_row=2, lang="en")
    summary = convert_dataset(inp, tmp_path / "out.jsonl", config)
    out = rows(tmp_path / "out.jsonl")
    assert len(out) == 80 and summary["options"] == ["negative", "positive"]
    assert {r["output"] for r in out} == {"negative", "positive"}
    assert len({r["meta"]["template_id"] for r in out}) == 4
    assert 0 < summary["few_shot"] < 80 and 0 < summary["options_listed"] < 80
    for r in out:
        assert r["source"] == "converted" and r["task"] == "sst" and r["is_classification"]
        assert r["instruction"].count("review number") == 1 + r["meta"]["shots"]
        if r["meta"]["options_listed"]:
            assert "negative" in r["instruction"] and "positive" in r["instruction"]
    # The two records of a row use different templates.
    by_row = {}
    for r in out:
        by_row.setdefault(r["meta"]["row"], set()).add(r["meta"]["template_id"])
    assert all(len(ids) == 2 for ids in by_row.values())
    # Deterministic: the same input and seed give the same file.
    convert_dataset(inp, tmp_path / "again.jsonl", config)
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "out.jsonl").read_text()


def test_qa_and_generation_kinds(tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "谁写了红楼梦？", "answer": "曹雪芹", "context": ""}] * 3)
    convert_dataset(qa, tmp_path / "qa_out.jsonl", ConvertConfig(kind="qa", few_shot_ratio=0))
    out = rows(tmp_path / "qa_out.jsonl")
    assert all(r["output"] == "曹雪芹" and r["meta"]["template_id"].startswith("convert_qa.zh") for r in out)
    gen = tmp_path / "gen.csv"
    gen.write_text("article,summary\nA long text about rivers.,Rivers.\nAnother text on hills.,Hills.\n")
    convert_dataset(gen, tmp_path / "gen_out.jsonl", ConvertConfig(kind="generation", description="Summarize the article",
                                                                 columns={"text": "article", "output": "summary"}))
    out = rows(tmp_path / "gen_out.jsonl")
    assert [r["output"] for r in out] == ["Rivers.", "Hills."]
    assert all("Summarize the article" in r["instruction"] for r in out)


def test_errors_name_the_place_and_the_fix(tmp_path):
    inp = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    with pytest.raises(InputError, match="no column for the 'label' role") as err:
        convert_dataset(inp, tmp_path / "o.jsonl", ConvertConfig(columns={"label": "gold"}))
    assert "--columns" in err.value.hint
    with pytest.raises(InputError, match="line 2.*label 'y' has no name"):
        convert_dataset(inp, tmp_path / "o.jsonl", ConvertConfig(label_names={"x": "X"}))
    with pytest.raises(ConfigError, match="description"):
        convert_dataset(inp, tmp_path / "o.jsonl", ConvertConfig(kind="generation"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"text": \n')
    with pytest.raises(InputError, match="line 2"):
        convert_dataset(bad, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_cli(tmp_path):
    inp = tmp_path / "d.tsv"
    inp.write_text("s\tl\nfine day\t1\nbad day\t0\n")
    cli = str(Path(sys.executable).with_name("seedtune"))
    done = subprocess.run([cli, "generate", "templates", str(inp), str(tmp_path / "o.jsonl"), "--columns", "text=s,label=l",
                           "--labels", "0=no,1=yes", "--task", "mood", "few_shot_ratio=0"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [r["output"] for r in rows(tmp_path / "o.jsonl")] == ["yes", "no"]
    bad = subprocess.run([cli, "generate", "templates", str(inp), str(tmp_path / "o.jsonl"), "--columns", "text"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "key=value" in bad.stderr

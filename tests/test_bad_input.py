"""Bad input and misuse, driven through the real `seedtune` entry point (`seedtune.cli.main`).

Each case of the matrix builds its files, runs one command and checks the three promises: one
clear message (what, where, what to do) and no traceback; the documented exit status; every
input file byte-identical afterwards (no data lost).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_kit import run_main

RECORDS = [{"instruction": f"Name a colour that starts with the letter {c}.", "output": f"{c}... for example."}
           for c in "ABCDEF"]
SUITE_ROW = {"id": "sum", "instruction": "What is the sum?", "metric": "exact_match",
             "instances": [{"input": "2 and 2", "output": "4"}]}
FAKE_KEY = "sk-proj-Q3vT9xLm2Rk8WpZ4yN6bH1cJ"


def flat(text: str) -> str:
    return " ".join(text.split())


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Case:
    """`setup(tmp_path, env)` writes the inputs and returns the command line; `env` carries the
    session's tiny model folder and the test's monkeypatch."""

    setup: Callable[[Path, dict], list[str]]
    says: tuple[str, ...]  # fragments the message must contain (whitespace-normalised)
    code: int = 2


def _curate_into_own_folder(t: Path, env: dict) -> list[str]:
    jsonl(t / "cur" / "kept.jsonl", RECORDS)
    return ["curate", str(t / "cur" / "kept.jsonl"), str(t / "cur")]


def _curate_output_is_input(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    return ["curate", str(t / "in.jsonl"), str(t / "in.jsonl")]


def _eval_output_is_suite(t: Path, env: dict) -> list[str]:
    jsonl(t / "suite.jsonl", [SUITE_ROW])
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "suite.jsonl")]


def _eval_output_is_model(t: Path, env: dict) -> list[str]:
    (t / "model").mkdir()
    (t / "model" / "config.json").write_text("{}")
    jsonl(t / "suite.jsonl", [SUITE_ROW])
    return ["eval", "-m", str(t / "model"), "--suite", str(t / "suite.jsonl"), "-o", str(t / "model")]


def _train_output_is_data(t: Path, env: dict) -> list[str]:
    jsonl(t / "d.jsonl", RECORDS)
    return ["train", "--model", env["model"], "--data", str(t / "d.jsonl"), "--output", str(t / "d.jsonl")]


def _train_output_is_model(t: Path, env: dict) -> list[str]:
    import shutil

    shutil.copytree(env["model"], t / "base")
    jsonl(t / "d.jsonl", RECORDS)
    return ["train", "--model", str(t / "base"), "--data", str(t / "d.jsonl"), "--output", str(t / "base")]


def _train_pickled_weights(t: Path, env: dict) -> list[str]:
    import shutil

    import torch

    shutil.copytree(env["model"], t / "base", ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save(_Planted(t / "PWNED"), t / "base" / "pytorch_model.bin")
    jsonl(t / "d.jsonl", RECORDS)
    return ["train", "--model", str(t / "base"), "--data", str(t / "d.jsonl"), "--output", str(t / "out")]


def _not_writable(t: Path, env: dict) -> list[str]:
    import tempfile

    # Tests may run as root, where chmod does not stop writes: fail the way a read-only folder does.
    def refuse(*args, dir=None, **kw):  # noqa: A002 - mkstemp's own keyword
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    env["monkeypatch"].setattr(tempfile, "mkstemp", refuse)
    jsonl(t / "in.jsonl", RECORDS)
    return ["curate", str(t / "in.jsonl"), str(t / "locked"), "--filter", "exact"]


def _disk_full(t: Path, env: dict) -> list[str]:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    env["monkeypatch"].setattr(os, "fsync", full)
    jsonl(t / "in.jsonl", RECORDS)
    jsonl(t / "out" / "kept.jsonl", RECORDS[:2])  # an earlier run's result must survive the failed write
    return ["curate", str(t / "in.jsonl"), str(t / "out"), "--filter", "exact"]


def _output_under_a_file(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    (t / "notes.txt").write_text("my notes\n")
    return ["curate", str(t / "in.jsonl"), str(t / "notes.txt" / "out")]


def _output_is_a_file(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    (t / "notes.txt").write_text("my notes\n")
    return ["curate", str(t / "in.jsonl"), str(t / "notes.txt")]


def _eval_output_is_a_file(t: Path, env: dict) -> list[str]:
    jsonl(t / "suite.jsonl", [SUITE_ROW])
    (t / "notes.txt").write_text("my notes\n")
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "notes.txt")]


def _train_output_under_a_file(t: Path, env: dict) -> list[str]:
    jsonl(t / "d.jsonl", RECORDS)
    (t / "notes.txt").write_text("my notes\n")
    return ["train", "--model", env["model"], "--data", str(t / "d.jsonl"), "--output", str(t / "notes.txt" / "model")]


def _cache_is_a_folder(t: Path, env: dict) -> list[str]:
    jsonl(t / "suite.jsonl", [SUITE_ROW])
    (t / "cache").mkdir()
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "out"), f"cache={t / 'cache'}"]


def _cache_not_sqlite(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    (t / "cache.sqlite").write_text("these are my notes, not a database\n" * 200)
    return ["generate", "respond", str(t / "in.jsonl"), str(t / "out.jsonl"), "--teacher", f"hf:{env['model']}",
            "--cache", str(t / "cache.sqlite"), "-q"]


def _yaml_not_utf8(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    (t / "c.yaml").write_bytes("curate:\n  # caf\xe9 au lait\n  report: false\n".encode("latin-1"))
    return ["curate", str(t / "in.jsonl"), str(t / "out"), "--config", str(t / "c.yaml")]


def _suite_not_utf8(t: Path, env: dict) -> list[str]:
    row = dict(SUITE_ROW, instruction="Traduisez: caf\xe9")
    (t / "suite.jsonl").write_bytes((json.dumps(row, ensure_ascii=False) + "\n").encode("latin-1"))
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "out")]


def _superni_instances_not_a_list(t: Path, env: dict) -> list[str]:
    task = {"Definition": ["Add the numbers."], "Positive Examples": [], "Instances": "2 + 2 = 4"}
    (t / "task001_add.json").write_text(json.dumps(task))
    return ["eval", "-m", env["model"], "--suite", str(t / "task001_add.json"), "-o", str(t / "out")]


def _config_is_a_folder(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    (t / "configs").mkdir()
    return ["curate", str(t / "in.jsonl"), str(t / "out"), "--config", str(t / "configs")]


def _train_config_is_a_folder(t: Path, env: dict) -> list[str]:
    (t / "configs").mkdir()
    return ["train", "--config", str(t / "configs")]


def _empty_suite(t: Path, env: dict) -> list[str]:
    (t / "suite.jsonl").write_text("")
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "out")]


def _duplicate_task_ids(t: Path, env: dict) -> list[str]:
    other = dict(SUITE_ROW, instruction="What is the product?", instances=[{"input": "2 and 3", "output": "6"}])
    jsonl(t / "suite.jsonl", [SUITE_ROW, other])
    return ["eval", "-m", env["model"], "--suite", str(t / "suite.jsonl"), "-o", str(t / "out")]


def _key_in_api_key_env(t: Path, env: dict) -> list[str]:
    jsonl(t / "in.jsonl", RECORDS)
    return ["generate", "respond", str(t / "in.jsonl"), str(t / "out.jsonl"), "--teacher", "openai:gpt-4o-mini",
            "--api-key-env", FAKE_KEY, "-q"]


def _key_in_pipeline_yaml(t: Path, env: dict) -> list[str]:
    env["monkeypatch"].chdir(t)
    (t / "p.yaml").write_text(f"name: leak\ngenerate:\n  self_instruct:\n    teacher:\n      teacher: openai:gpt-4o-mini\n"
                              f"      api_key_env: {FAKE_KEY}\n")
    return ["run", str(t / "p.yaml")]


def _interrupted(t: Path, env: dict) -> list[str]:
    import seedtune.curate

    def stop(*args, **kw):
        raise KeyboardInterrupt

    env["monkeypatch"].setattr(seedtune.curate, "curate", stop)
    jsonl(t / "in.jsonl", RECORDS)
    return ["curate", str(t / "in.jsonl"), str(t / "out")]


class _Planted:
    """A pickle that creates a file when unpickled: proof that loading ran foreign code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


CASES = {
    "curate-output-folder-holds-its-input": Case(_curate_into_own_folder, ("refusing to overwrite", "kept.jsonl", "another output folder")),
    "curate-output-is-the-input-file": Case(_curate_output_is_input, ("output folder is the input file", "new folder")),
    "eval-output-is-the-suite": Case(_eval_output_is_suite, ("--output", "same path as an input", "new path")),
    "eval-output-is-a-model": Case(_eval_output_is_model, ("--output", "same path as an input")),
    "train-output-is-the-data": Case(_train_output_is_data, ("--output", "same path as an input")),
    "train-output-is-the-base-model": Case(_train_output_is_model, ("--output", "same path as an input")),
    "train-refuses-pickled-bin-weights": Case(_train_pickled_weights, ("no safetensors weights", "pytorch_model.bin", "save_pretrained")),
    "output-folder-not-writable": Case(_not_writable, ("permission denied", "locked", "folder you can write to")),
    "disk-full": Case(_disk_full, ("no space left", "kept.jsonl", "free some space")),
    "output-path-under-a-regular-file": Case(_output_under_a_file, ("notes.txt is a file", "notes.txt/out", "another output path")),
    "eval-output-is-a-file": Case(_eval_output_is_a_file, ("notes.txt is a file", "output folder")),
    "train-output-under-a-file": Case(_train_output_under_a_file, ("notes.txt is a file", "notes.txt/model")),
    "output-folder-is-a-file": Case(_output_is_a_file, ("notes.txt is a file", "output folder")),
    "cache-is-a-folder": Case(_cache_is_a_folder, ("request cache must be a file", "folder", "requests.sqlite")),
    "cache-is-not-sqlite": Case(_cache_not_sqlite, ("cache.sqlite", "cannot use this file as the request cache", "--cache")),
    "yaml-not-utf8": Case(_yaml_not_utf8, ("c.yaml", "line 2", "not UTF-8", "re-save it as UTF-8")),
    "suite-not-utf8": Case(_suite_not_utf8, ("suite.jsonl", "line 1", "not UTF-8")),
    "superni-instances-not-a-list": Case(_superni_instances_not_a_list, ("task001_add.json", "Instances", "must be a list")),
    "config-is-a-folder": Case(_config_is_a_folder, ("configs", "is a folder", "config file must be a file")),
    "train-config-is-a-folder": Case(_train_config_is_a_folder, ("configs", "is a folder")),
    "empty-suite": Case(_empty_suite, ("suite.jsonl", "no tasks", "nothing to evaluate")),
    "duplicate-task-ids": Case(_duplicate_task_ids, ("suite.jsonl", "two tasks have the id 'sum'", "own id")),
    "api-key-pasted-into-api-key-env": Case(_key_in_api_key_env, ("api_key_env", "looks like an API key", "NAME")),
    "api-key-in-pipeline-yaml": Case(_key_in_pipeline_yaml, ("api_key_env", "looks like an API key")),
    "ctrl-c": Case(_interrupted, ("interrupted", "rerun the same command", "request cache", "--resume"), code=130),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_message_and_loses_nothing(name, tmp_path, monkeypatch, capsys, tiny_model_dir):
    case = CASES[name]
    argv = case.setup(tmp_path, {"model": str(tiny_model_dir), "monkeypatch": monkeypatch})
    before = snapshot(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, *argv)
    text = flat(err)
    assert code == case.code, f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in err + out
    assert text.count("error:") == 1, err
    for fragment in case.says:
        assert fragment in text, f"{fragment!r} not in: {text}"
    after = snapshot(tmp_path)
    for rel, data in before.items():  # nothing the user had is changed or gone
        assert after.get(rel) == data, f"{rel} was changed or removed"
    assert FAKE_KEY not in err + out
    assert not any(FAKE_KEY.encode() in data for rel, data in after.items() if rel != "p.yaml"), "the key was written"
    assert not (tmp_path / "PWNED").exists()
    assert not [p for p in tmp_path.rglob("*.tmp")], "temp files left behind"


def test_debug_flag_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from seedtune.errors import InputError

    jsonl(tmp_path / "in.jsonl", RECORDS)
    with pytest.raises(InputError):
        run_main(monkeypatch, capsys, "--debug", "curate", str(tmp_path / "in.jsonl"), str(tmp_path / "in.jsonl"))


def test_inspect_skip_writes_no_side_file_unless_asked(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mixed.jsonl").write_text('{"instruction": "ok"}\nnot json\n', encoding="utf-8")
    before = snapshot(data)
    code, out, _ = run_main(monkeypatch, capsys, "data", "inspect", str(data / "mixed.jsonl"), "--on-error", "skip")
    assert code == 0 and "1 rows rejected" in flat(out) and "--rejected" in flat(out)
    assert snapshot(data) == before  # nothing written beside the input
    side = tmp_path / "reasons.jsonl"
    code, out, _ = run_main(monkeypatch, capsys, "data", "inspect", str(data / "mixed.jsonl"), "--on-error", "skip",
                            "--rejected", str(side))
    assert code == 0 and json.loads(side.read_text())["line"] == 2 and snapshot(data) == before


def test_curate_skip_puts_rejected_rows_in_its_output_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "mixed.jsonl").write_text('{"instruction": "Say hi.", "output": "Hi."}\nnot json\n', encoding="utf-8")
    code, out, _ = run_main(monkeypatch, capsys, "curate", str(tmp_path / "mixed.jsonl"), str(tmp_path / "out"),
                            "--on-error", "skip", "--filter", "exact", "report=false")
    assert code == 0, out
    assert json.loads((tmp_path / "out" / "rejected.jsonl").read_text())["line"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.jsonl", "out"]


def test_killed_curate_leaves_nothing_a_rerun_keeps(tmp_path, monkeypatch, capsys):
    """A kill mid-write leaves `.kept.jsonl.XXXX.tmp`; files of an earlier run with other settings
    (the diversity report) must not sit beside the new outputs as if they were current."""
    jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out"
    code, _, _ = run_main(monkeypatch, capsys, "curate", str(tmp_path / "in.jsonl"), str(out), "--filter", "exact")
    assert code == 0 and (out / "diversity.md").exists()
    (out / ".kept.jsonl.k1ll3d.tmp").write_bytes(b'{"instruction": "half a rec')
    (out / "notes.md").write_text("mine\n")  # not curate's: must stay
    code, stdout, _ = run_main(monkeypatch, capsys, "curate", str(tmp_path / "in.jsonl"), str(out),
                               "--filter", "exact", "report=false")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["dropped.jsonl", "funnel.json", "kept.jsonl", "notes.md"]
    assert "interrupted run" in flat(stdout) and "diversity.md" in flat(stdout)


def test_planted_pickle_checkpoint_is_refused_not_run(tmp_path, tiny_model):
    import torch

    from seedtune.errors import SeedtuneError
    from seedtune.train import checkpoint

    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    tiny_model(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
    optimizer.step()
    path = checkpoint.save(tmp_path, 1, tiny_model, optimizer, scheduler, {"tokens": 3})
    for name in ("optimizer.pt", "scheduler.pt", "rng-0.pt"):  # each file is loaded safely on its own
        clean = (path / name).read_bytes()
        torch.save({"state": _Planted(tmp_path / "PWNED")}, path / name)
        with pytest.raises(SeedtuneError, match="pickled objects"):
            checkpoint.load(path, tiny_model, optimizer, scheduler)
        assert not (tmp_path / "PWNED").exists()
        (path / name).write_bytes(clean)
    assert checkpoint.load(path, tiny_model, optimizer, scheduler)["step"] == 1


def test_checkpoint_rng_roundtrip_is_exact(tmp_path, tiny_model):
    import random

    import numpy as np
    import torch

    from seedtune.train import checkpoint

    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.standard_normal()  # ... and in numpy's
    path = checkpoint.save(tmp_path, 1, tiny_model, optimizer, scheduler, {})
    expected = (random.random(), random.gauss(0, 1), np.random.standard_normal(), torch.rand(3))
    checkpoint.load(path, tiny_model, optimizer, scheduler)
    got = (random.random(), random.gauss(0, 1), np.random.standard_normal(), torch.rand(3))
    assert expected[:3] == got[:3] and torch.equal(expected[3], got[3])

"""Response generation: n samples, rejects with reasons, conversations; and the CLI over HTTP,
SIGKILLed mid-run and rerun: equal to an uninterrupted run, no stored answer requested again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seedtune.generate.common import TeacherConfig
from seedtune.generate.respond import RespondConfig, respond
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher

SERVER = Path(__file__).with_name("fake_openai_server.py")


def cfg(tmp_path: Path, **kw) -> RespondConfig:
    return RespondConfig(teacher=TeacherConfig(cache=str(tmp_path / "c.sqlite")), **kw)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_n_samples_duplicates_and_empties(tmp_path):
    teacher = ScriptedTeacher(["one", "one", "two", "", "three", "four"])
    records = [Record(instruction="A?"), Record(instruction="B?"), Record(instruction="C?")]
    summary = respond(records, tmp_path / "o.jsonl", cfg(tmp_path, n=2), teacher=teacher, progress=False)
    kept = rows(tmp_path / "o.jsonl")
    assert [(r["instruction"], r["output"]) for r in kept] == [("A?", "one"), ("B?", "two"), ("C?", "three"), ("C?", "four")]
    assert summary["rejected_by_reason"] == {"duplicate_sample": 1, "empty": 1}
    assert all(r["source"] == "response" and r["parent_ids"] and r["meta"]["request_key"] for r in kept)
    assert [r["meta"]["sample"] for r in kept] == [0, 0, 0, 1]
    # Each request carried a seed derived from its position, so rerunning asks nothing new.
    assert len({req.seed for req in teacher.seen}) == 3


def test_conversations_system_prompt_and_skip_answered(tmp_path):
    teacher = ScriptedTeacher(default=lambda req: f"reply to {req.messages[-1][1]} with {len(req.messages)} msgs")
    chat = Record(instruction="", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                                            {"role": "user", "content": "again"}])
    done = Record(instruction="old", output="kept as is")
    respond([chat, done], tmp_path / "o.jsonl", cfg(tmp_path, system="Be brief.", skip_answered=True),
            teacher=teacher, progress=False)
    out = rows(tmp_path / "o.jsonl")
    assert out[0]["messages"][-1] == {"role": "assistant", "content": "reply to again with 4 msgs"}
    assert teacher.seen[0].messages[0] == ("system", "Be brief.")
    assert out[1]["output"] == "kept as is" and len(teacher.seen) == 1


def test_truncated_answers_are_rejected_unless_kept(tmp_path):
    from seedtune.teachers.base import Completion

    class Cut:
        model_id = "cut"

        def generate(self, requests):
            return [Completion(texts=["half an answ"], finish_reasons=["length"], key=r.key("cut")) for r in requests]

    summary = respond([Record(instruction="Q")], tmp_path / "a.jsonl", cfg(tmp_path), teacher=Cut(), progress=False)
    assert summary["rejected_by_reason"] == {"truncated": 1}
    summary = respond([Record(instruction="Q")], tmp_path / "b.jsonl", cfg(tmp_path, keep_truncated=True),
                      teacher=Cut(), progress=False)
    assert summary["accepted"] == 1


@pytest.fixture
def server():
    proc = subprocess.Popen([sys.executable, str(SERVER), "--latency", "0.15"], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().split()[1])
    yield f"http://127.0.0.1:{port}/v1"
    proc.kill()
    proc.wait()


def _cli(inp: Path, out: Path, url: str, cache: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("seedtune")), "generate", "respond", str(inp), str(out), "--teacher", "openai:fake",
            "--base-url", url, "--concurrency", "2", "--cache", str(cache), "-q", "chunk=4"]


def test_cli_sigkill_resume_over_http(tmp_path, server):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"instruction": f"Question number {i}?"}) + "\n" for i in range(24)))
    out, cache = tmp_path / "killed.jsonl", tmp_path / "killed.sqlite"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-secret"}
    proc = subprocess.Popen(_cli(inp, out, server, cache), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.05)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(cache) as db:
        stored = db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        blob = " ".join(str(v) for row in db.execute("SELECT * FROM completions") for v in row)
    assert 0 < stored < 24
    assert "sk-test-secret" not in blob  # the key is never written into the cache
    subprocess.run(_cli(inp, out, server, cache), env=env, check=True)
    stats = json.loads((tmp_path / "killed.stats.json").read_text())
    assert stats["cache"]["hits"] == stored and stats["cache"]["misses"] == 24 - stored
    clean = tmp_path / "clean.jsonl"
    subprocess.run(_cli(inp, clean, server, tmp_path / "clean.sqlite"), env=env, check=True)
    assert out.read_text() == clean.read_text()
    assert [r["output"] for r in rows(out)] == [f"echo: Question number {i}?" for i in range(24)]

"""The promise a long generation run rests on: a SIGKILL at any moment never pays twice for more
than the requests in flight, and a rerun finishes with exactly what an uninterrupted run writes.

The client (`seedtune generate respond`, a real subprocess) talks to the fake OpenAI server, which
answers instantly and counts requests whose body it has already seen. Each attempt is killed a
random number of requests after it started sending (never during start-up), then rerun.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seedtune.generate.common import TeacherConfig
from seedtune.generate.respond import RespondConfig, respond
from seedtune.records import Record

from conftest import server_stats

REQUESTS, CONCURRENCY, KILLS = 300, 8, 10


def _command(source: Path, out: Path, cache: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "seedtune", "generate", "respond", str(source), str(out), "--teacher", "openai:fake",
            "--base-url", url, "--concurrency", str(CONCURRENCY), "--cache", str(cache), "--seed", "7", "-q"]


def _kill_once(command: list[str], url: str, after: int) -> bool:
    """Start the client, SIGKILL it once `after` more requests reached the server; False if it finished first."""
    start = server_stats(url)["received"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            if server_stats(url)["received"] - start >= after:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.001)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_sigkill_mid_run_loses_only_requests_in_flight(tmp_path, fake_server):
    url = fake_server()
    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"question number {i}"}) + "\n" for i in range(REQUESTS)))
    out = tmp_path / "answers.jsonl"
    command = _command(source, out, tmp_path / "cache.sqlite", url)
    rng = random.Random(2024)
    started = time.monotonic()
    kills = 0
    for _ in range(KILLS):
        kills += _kill_once(command, url, after=rng.randint(1, 40))
    final = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    assert final.returncode == 0, final.stderr
    stats = server_stats(url)
    # The reference: the same server and seed, a fresh cache, no kills (its requests all repeat; counted above).
    reference = tmp_path / "reference.jsonl"
    respond([Record(instruction=f"question number {i}") for i in range(REQUESTS)], reference,
            RespondConfig(seed=7, teacher=TeacherConfig(teacher="openai:fake", base_url=url, concurrency=CONCURRENCY,
                                                        cache=str(tmp_path / "reference.sqlite"))), progress=False)
    print(f"\nfault test: {kills} kills, {stats['received']} requests received for {REQUESTS} answers, "
          f"{stats['repeated']} repeated (limit {kills * CONCURRENCY}), {seconds:.1f} s")
    assert kills == KILLS
    assert out.read_bytes() == reference.read_bytes()
    assert len(out.read_text().splitlines()) == REQUESTS  # no record lost
    assert (tmp_path / "answers.rejected.jsonl").read_text() == ""  # nothing rejected
    assert stats["repeated"] <= kills * CONCURRENCY

"""Shared fixtures: the in-memory tiny model kit and a scripted teacher. No network, seconds to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

# Two cores: keep torch from oversubscribing when pytest and tokenizers threads compete.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing is a broken install, not a skip
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from seedtune.testing import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer):
    from seedtune.testing import tiny_model

    return tiny_model(tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny model saved as an HF directory (session-wide; treat as read-only)."""
    from seedtune.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def scripted_teacher():
    from seedtune.teachers import ScriptedTeacher

    return ScriptedTeacher()


@pytest.fixture
def request_cache(tmp_path):
    from seedtune.cache import RequestCache

    cache = RequestCache(tmp_path / "requests.sqlite")
    yield cache
    cache.close()


FAKE_SERVER = Path(__file__).with_name("fake_openai_server.py")


@pytest.fixture
def fake_server():
    """Start `fake_openai_server.py ARGS...` in a subprocess; returns its /v1 base URL."""
    procs = []

    def start(*args: str) -> str:
        proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), *args], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        return f"http://127.0.0.1:{int(line.split()[1])}/v1"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def server_stats(base_url: str) -> dict:
    """The fake server's counters (received, served by fault, repeated, max_inflight)."""
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/stats") as resp:
        return json.loads(resp.read())

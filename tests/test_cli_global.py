"""Global CLI behaviour: remote code stays off unless the user passes --trust-remote-code."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from seedtune.cli import app
from seedtune.models.loading import TRUST_ENV, trust_remote_code_default


def test_remote_code_is_off_by_default_and_on_only_with_the_flag(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["models", "list"]).exit_code == 0
    assert not trust_remote_code_default()
    assert runner.invoke(app, ["--trust-remote-code", "models", "list"]).exit_code == 0
    assert os.environ.get(TRUST_ENV) == "1" and trust_remote_code_default()

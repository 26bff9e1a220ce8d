"""Fixtures for the CLI tests: the in-process runner and tiny configs (helpers live in clitools.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import write_config
from typer.testing import CliRunner

from neurenix_cli.main import app


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def cli():
    """Invoke the app in-process; returns the Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One finished tiny run shared by the read-only tests (eval, list)."""
    root = tmp_path_factory.mktemp("shared")
    config = write_config(root)
    result = CliRunner().invoke(app, ["train", str(config), "--run-dir", str(root / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "run"

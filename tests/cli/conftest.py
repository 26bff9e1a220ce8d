"""Fixtures for the CLI tests: the in-process runner, tiny configs and a throwaway PostgreSQL server (helpers
live in clitools.py)."""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
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


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL server of its own, started from Debian's binaries on 127.0.0.1 with trust auth and one empty
    database, stopped at teardown: yields `postgresql://USER@127.0.0.1:PORT/neurenix`."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.skip(
            "no PostgreSQL server in /usr/lib/postgresql/*/bin (.ci/run installs Debian's postgresql)"
        )
    bin_dir = Path(found[-1]).parent
    # PostgreSQL refuses to run as root: then the server runs as the `postgres` user the package created.
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # Not under tmp_path: pytest makes its base directory root-only (0700), which `postgres` cannot enter, and
    # a unix socket's path must stay under 108 bytes, which a deep --basetemp would pass.
    with tempfile.TemporaryDirectory(prefix="neurenix-pg-") as top:
        directory = Path(top)
        if as_root:
            shutil.chown(directory, "postgres", "postgres")
        data = directory / "data"

        def pg(tool: str, *args: str) -> None:
            done = subprocess.run(
                [*prefix, str(bin_dir / tool), *args],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, f"{tool} failed:\n{done.stdout}{done.stderr}"

        pg("initdb", "-D", str(data), "-U", user, "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
        with socket.socket() as probe:  # a free port; the server takes it a moment later
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # A test server: durability off, as the data directory is thrown away.
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{directory}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        log = directory / "server.log"
        try:
            pg("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "30", "start")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text() if log.exists() else ''}") from None
        try:
            pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, "neurenix")
            yield f"postgresql://{user}@127.0.0.1:{port}/neurenix"
        finally:
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")

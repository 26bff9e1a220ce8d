"""`neurenix show RUN_DIR`: a run's config, its summary and a curve of its return, in the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def show(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A directory `neurenix train` created.")],
) -> None:
    """Show a run: its resolved config, its summary and a compact curve of the return per episode."""
    from neurenix_cli import curves, runs
    from neurenix_cli.reporting import print_table, summary_rows

    config_path = run_dir / runs.CONFIG_NAME
    if not config_path.is_file():
        raise runs.RunDirError(runs.not_a_run(run_dir, lambda run, _: f"neurenix show {run}"))
    typer.echo(f"config ({config_path})")
    for line in config_path.read_text(encoding="utf-8").splitlines():
        typer.echo(f"  {line}")
    summary = runs.read_summary(run_dir)
    if summary is None:
        typer.echo("summary: none yet (the run has not started training)")
    else:
        # `dead` rather than a stale `running` when the training process is gone.
        summary = {**summary, "status": runs.run_status(run_dir, summary)}
        print_table("summary", summary_rows(summary))
    sys.stdout.write(curves.run_chart(run_dir, sys.stdout))
    sys.stdout.flush()

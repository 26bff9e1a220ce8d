"""`neurenix train CONFIG [--init-from RUN]` and `neurenix train --resume RUN_DIR [--set train.total_steps=N]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

JSON_KEYS = (
    "run_dir",
    "status",
    "total_steps",
    "episodes",
    "wall_s",
    "steps_per_s",
    "best_eval",
    "final_eval",
    "stop_reason",
    "error",
)


def train(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="CONFIG", show_default=False, help="A YAML config, e.g. configs/dqn_cartpole.yaml."
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            show_default=False,
            help="Override a config key (dotted path, YAML value); repeatable, e.g. "
            "--set agent.learning_rate=0.0005 --set train.total_steps=20000. With --resume, only the "
            "budget: train.total_steps, train.episodes, train.target_reward.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Override the config's seed.", show_default=False)
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            metavar="DIR",
            show_default=False,
            help="Write the run exactly here (must not hold a run).",
        ),
    ] = None,
    runs_root: Annotated[
        Path,
        typer.Option(
            "--runs-root",
            metavar="DIR",
            help="Create the run under DIR as <algo>_<env>_<YYYYmmdd-HHMMSS>[_n].",
        ),
    ] = Path("runs"),
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="RUN_DIR",
            show_default=False,
            help="Continue an interrupted or killed run from its checkpoints/last. With --set "
            "train.total_steps=N (or train.episodes, train.target_reward: only the budget may change), "
            "continue a run, completed or not, to that new total. Schedules over the budget "
            "(exploration_fraction, a linear lr_schedule or clip_schedule) then follow the new total, as "
            "SB3's learn(reset_num_timesteps=False) does: they resume from old/new of their course.",
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            "--init-from",
            metavar="RUN_OR_CHECKPOINT",
            show_default=False,
            help="Start the new run from another run's weights: a run directory (its checkpoints/best, "
            "else last) or a checkpoint directory such as RUN/checkpoints/last. CONFIG must build the same "
            "networks. Carried: every network (targets too) and the normalisation statistics; not carried: "
            "optimizer state, counters, exploration, replay buffer (the new run's own, from its seed).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress output; print only the final summary.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON object with the run's summary.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only validate CONFIG with its --set/--seed overrides, the --run-dir or --runs-root it "
            "would train into, and that the --init-from weights fit it, and print the resolved config as YAML; "
            "nothing is trained or written. With --resume, check that the run can continue (its config and "
            "new budget, its checkpoint, no other process on it). Exit 0 if training would start; else the message "
            "and exit code training would give (2 for a config or usage error).",
        ),
    ] = False,
    log_interval: Annotated[
        float,
        typer.Option(
            "--log-interval",
            metavar="SECONDS",
            min=0.0,
            help="Seconds between plain progress lines (off a terminal, and in train.log).",
        ),
    ] = 10.0,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Also write TensorBoard event files into RUN_DIR/tensorboard (the same as "
            "train.tensorboard: true; needs `pip install 'neurenix[tensorboard]'`).",
        ),
    ] = False,
) -> None:
    """Train an agent from a YAML config into a new run directory.

    Progress goes to stderr (a live view on a terminal, plain lines otherwise); the final summary goes to stdout.
    """
    from neurenix_cli import experiment, run_dir_checks, runs
    from neurenix_cli.config import load_prepared
    from neurenix_cli.reporting import make_reporter

    overrides = overrides or []
    reporter = make_reporter(quiet=quiet or as_json, interval_s=log_interval)
    if resume is not None:
        if config is not None or seed is not None or run_dir is not None or init_from is not None:
            raise typer.BadParameter(
                "--resume continues a run with the config it was started with: drop CONFIG, --seed, "
                "--run-dir and --init-from (--set may give it a new budget, e.g. --set "
                "train.total_steps=N).",
                param_hint="--resume",
            )
        if tensorboard:
            raise typer.BadParameter(
                "--resume keeps the run's own train.tensorboard setting: drop --tensorboard.",
                param_hint="--tensorboard",
            )
        if check:
            _check_resume(resume, overrides)
            return
        path = resume
        call = lambda: experiment.resume(  # noqa: E731
            resume, reporter, log_interval_s=log_interval, overrides=overrides
        )
    else:
        if config is None:
            raise typer.BadParameter(
                "give a YAML config (e.g. `neurenix train configs/dqn_cartpole.yaml`) or `--resume RUN_DIR`.",
                param_hint="CONFIG",
            )
        if tensorboard:
            overrides = [*overrides, "train.tensorboard=true"]
        prepared = load_prepared(config, overrides, seed)
        cfg = prepared.config
        if not quiet:
            for notice in prepared.notices:
                typer.echo(f"note: {notice}", err=True)
        if run_dir is not None:
            run_dir_checks.check_run_dir(run_dir)
        else:
            run_dir_checks.check_runs_root(runs_root)
        # Checked before anything is written: a config whose networks do not fit the weights trains nothing.
        weights = experiment.initial_weights(init_from) if init_from is not None else None
        if weights is not None:
            weights.check(prepared.agent)
        if check:
            from neurenix_cli.config import dump_yaml

            typer.echo(dump_yaml(cfg), nl=False)
            if weights is not None:
                typer.echo(f"--init-from: {weights.describe()} fit this config.", err=True)
            return
        path = (
            run_dir
            if run_dir is not None
            else runs.create_run_dir(runs_root, cfg["algorithm"], cfg["env"]["id"])
        )
        call = lambda: experiment.train(  # noqa: E731
            prepared, path, reporter, log_interval_s=log_interval, init_from=weights
        )
    try:
        summary = call()
    except experiment.RunInterrupted as exc:
        _render(exc.summary, as_json)
        raise
    except Exception:
        summary = runs.read_summary(path)
        if summary is not None and summary.get("status") == "failed":
            _render(summary, as_json)
        raise
    _render(summary, as_json)
    if not (quiet or as_json):
        _print_curve(path)


def _check_resume(run: Path, overrides: list[str]) -> None:
    """The config the run would continue with, as YAML on stdout, and where it would continue from."""
    from neurenix_cli import experiment
    from neurenix_cli.config import dump_yaml
    from neurenix_cli.numbers import thousands

    plan = experiment.check_resume(run, overrides)
    typer.echo(dump_yaml(plan.config), nl=False)
    start = f"step {thousands(plan.agent.total_steps)} of {plan.checkpoint}" if plan.checkpoint else "scratch"
    typer.echo(f"--resume: {run} can continue, from {start}.", err=True)


def _render(summary: dict, as_json: bool) -> None:
    from neurenix_cli.reporting import print_table, summary_rows

    if as_json:
        typer.echo(json.dumps({k: summary.get(k) for k in JSON_KEYS}))
    else:
        print_table("run summary", summary_rows(summary))


def _print_curve(run_dir: Path) -> None:
    import sys

    from neurenix_cli.curves import run_chart

    sys.stdout.write(run_chart(run_dir, sys.stdout))
    sys.stdout.flush()

"""`neurenix tune CONFIG --trials N`: an Optuna study over the config's `search:` block; `tune show STUDY`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from neurenix_cli.commands.sweep import RayAddress


def run(
    config: Annotated[
        Path,
        typer.Argument(
            metavar="CONFIG", show_default=False, help="The YAML config, with its `search:` block."
        ),
    ],
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            min=1,
            show_default=False,
            help="Trials the study should hold (complete, pruned or failed).",
        ),
    ],
    study: Annotated[
        str | None,
        typer.Option(
            "--study", metavar="NAME", show_default=False, help="The study's name (default: CONFIG's stem)."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            metavar="URL",
            show_default=False,
            help="Optuna RDB storage (default: sqlite:///RUNS_ROOT/tune-NAME/study.db).",
        ),
    ] = None,
    sampler: Annotated[
        str,
        typer.Option(
            "--sampler", help="tpe, random or cmaes (CMA-ES; `choice:` dimensions drawn at random)."
        ),
    ] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", help="median, halving (successive halving, by evaluation) or none.")
    ] = "median",
    seeds_per_trial: Annotated[
        int,
        typer.Option("--seeds-per-trial", min=1, help="Seeds trained per trial; its value is their mean."),
    ] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            show_default=False,
            help="Trial processes on this machine, all on the one study (default 1; more machines: the same "
            "command with one --storage postgresql://...). With --ray: trials at once (default: the cluster's "
            "CPUs over --seeds-per-trial).",
        ),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Train each trial's seeds as Ray tasks, their runs brought back here: on RAY_ADDRESS's cluster "
            "if set, else on a new local Ray instance (needs `pip install 'neurenix[ray]'`; no pruning).",
        ),
    ] = False,
    ray_address: RayAddress = None,
    runs_root: Annotated[
        Path, typer.Option("--runs-root", metavar="DIR", help="Create the study directory under DIR.")
    ] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per finished trial.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON object with every trial.")
    ] = False,
    worker: Annotated[int, typer.Option("--worker", hidden=True)] = 0,
) -> None:
    """Tune CONFIG's `search:` block with Optuna (needs `pip install 'neurenix[tune]'`).

    Each trial trains --seeds-per-trial normal runs into RUNS_ROOT/tune-NAME/trial-<n>-seed<s>/; its value is
    their mean final evaluation. Running the same command again resumes the study and runs only the trials
    still missing. The best trial's config is written to RUNS_ROOT/tune-NAME/best.yaml. With --workers K, K
    processes run trials at once (K-1 started by this one); with --storage, processes on other machines may
    share the study, and together they run N trials.
    """
    from neurenix_cli import tuning

    plan = tuning.plan(
        config,
        name=study,
        storage=storage,
        runs_root=runs_root,
        seeds_per_trial=seeds_per_trial,
        sampler=sampler,
        pruner=pruner,
    )
    tuning._optuna()  # a missing extra is refused before anything is written
    quiet = quiet or as_json
    if worker:
        _work(plan, trials, worker, quiet)
        return
    on_ray = ray or ray_address is not None
    the_study = tuning.open_study(plan)
    abandoned = tuning.mark_abandoned(the_study)
    done = sum(tuning.counted(t) for t in the_study.get_trials(deepcopy=False))
    if not quiet:
        resumed = f", resuming at {done}" if done else ""
        processes = ", on Ray" if on_ray else f", {workers} processes" if (workers or 1) > 1 else ""
        typer.echo(
            f"study {plan.name}: {trials} trials{resumed}{processes} -> {plan.directory} ({plan.storage})",
            err=True,
        )
        if abandoned:
            typer.echo(
                f"trials {', '.join(map(str, abandoned))} were left running by a process that died: marked "
                "FAIL, not counted",
                err=True,
            )
    helpers = [] if on_ray else [_start_worker(plan, trials, i, quiet) for i in range(1, workers or 1)]
    try:
        if on_ray:
            tuning.optimize_on_ray(plan, the_study, trials, ray_address, workers, _reporter(trials, quiet))
        else:
            tuning.optimize(plan, the_study, trials, on_done=_reporter(trials, quiet))
    except tuning.TuneInterrupted:
        _stop(helpers)
        _render(the_study, plan.directory, as_json)
        if not as_json:
            typer.echo(f"continue the study by running the same command again ({trials} trials)", err=True)
        raise
    except BaseException:
        _stop(helpers)
        raise
    failed = [code for code in (helper.wait() for helper in helpers) if code != 0]
    tuning.write_best(plan, the_study)  # the helpers' last trials may hold the best
    _render(the_study, plan.directory, as_json)
    if failed:
        typer.echo(
            f"error: {len(failed)} of the worker processes failed (see their messages above).", err=True
        )
        raise typer.Exit(1)
    if tuning.best_trial(the_study) is None:
        # A study of failed and pruned trials has no value to report: a script must not take it as tuned.
        typer.echo(
            f"error: no trial of study {plan.name} completed (see the table for why); best.yaml not written.",
            err=True,
        )
        raise typer.Exit(1)


def _reporter(trials: int, quiet: bool):
    def report(outcome: dict, count: int) -> None:
        if not quiet:
            typer.echo(f"[{count}/{trials}] {_outcome_line(outcome)}", err=True)

    return report


def _work(plan: Any, trials: int, worker: int, quiet: bool) -> None:
    """A worker process of `--workers K`: trials until the study holds enough, then exit, silently but for
    its trial lines. It dies with the command that started it."""
    from neurenix.rl.async_env import die_with_parent
    from neurenix_cli import tuning

    die_with_parent(os.getppid())
    tuning.optimize(plan, tuning.open_study(plan, worker), trials, on_done=_reporter(trials, quiet))


def _start_worker(plan: Any, trials: int, worker: int, quiet: bool) -> subprocess.Popen:
    """`neurenix tune` again with --worker I, in its own session: a Ctrl-C reaches this process, which passes
    it on as one SIGTERM (the trial in progress stops and does not count)."""
    command = [
        sys.executable, "-m", "neurenix_cli", "tune", "run", plan.config_path,
        "--trials", str(trials), "--study", plan.name, "--storage", plan.storage,
        "--sampler", plan.sampler, "--pruner", plan.pruner, "--seeds-per-trial", str(plan.seeds_per_trial),
        "--runs-root", str(plan.directory.parent), "--worker", str(worker),
    ]  # fmt: skip
    if quiet:
        command.append("--quiet")
    return subprocess.Popen(command, start_new_session=True)


def _stop(helpers: list[subprocess.Popen]) -> None:
    for helper in helpers:
        if helper.poll() is None:
            helper.send_signal(signal.SIGTERM)
    for helper in helpers:
        helper.wait()


def show(
    study: Annotated[
        str,
        typer.Argument(
            metavar="STUDY", show_default=False, help="A study directory (runs/tune-NAME) or name."
        ),
    ],
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", metavar="URL", show_default=False, help="The storage, if not study.json's."
        ),
    ] = None,
    runs_root: Annotated[
        Path, typer.Option("--runs-root", metavar="DIR", help="Where study names are found.")
    ] = Path("runs"),
    top: Annotated[int, typer.Option("--top", min=1, help="Trials shown, best first.")] = 10,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="PNG",
            show_default=False,
            help="Also draw the optimisation history into PNG (needs `pip install 'neurenix[plot]'`).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with every trial.")] = False,
) -> None:
    """Print a study's best trials, its counts and (with enough trials) Optuna's parameter importances."""
    from neurenix_cli import tuning

    the_study, directory = tuning.load(study, storage, runs_root)
    if plot is not None:
        _plot_history(tuning.trials_table(the_study), the_study.study_name, plot)
    _render(the_study, directory, as_json, top=top)
    if plot is not None and not as_json:
        typer.echo(f"wrote {plot}", err=True)


def _plot_history(rows: list[dict], name: str, path: Path) -> None:
    """Each complete trial's value by trial number, pruned ones at their last report, and the best so far."""
    from neurenix_cli.extras import require

    require("matplotlib", "plot", "neurenix tune show --plot")
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, and no display needed on a server
    import matplotlib.pyplot as plt

    complete = sorted((r["number"], r["value"]) for r in rows if r["state"] == "COMPLETE")
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    try:
        if complete:
            numbers, values = zip(*complete)
            ax.scatter(numbers, values, s=18, label="complete trial")
            best = [max(values[: i + 1]) for i in range(len(values))]
            ax.step(numbers, best, where="post", color="C3", label="best so far")
        pruned = [r["number"] for r in rows if r["state"] == "PRUNED"]
        for number in pruned:
            ax.axvline(number, color="0.85", lw=1, zorder=0)
        if pruned:
            ax.plot([], [], color="0.85", lw=1, label="pruned trial")
        ax.set_xlabel("trial")
        ax.set_ylabel("value (mean final evaluation)")
        ax.set_title(f"study {name}: optimisation history")
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)


def _outcome_line(outcome: dict) -> str:
    values = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in outcome.get("values", {}).items())
    state = outcome["state"]
    if state == "COMPLETE":
        text = f"value {outcome['value']:.2f}"
    elif state == "PRUNED":
        text = f"pruned at step {outcome.get('pruned_at')}"
    else:
        text = outcome.get("error") or outcome.get("outcome") or "failed"
    return f"trial {outcome['number']}: {state.lower()}, {text} ({values})"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)


def _render(study: Any, directory: Path, as_json: bool, top: int = 10) -> None:
    from neurenix_cli import tuning
    from neurenix_cli.reporting import print_listing

    data = tuning.study_json(study, directory)
    if as_json:
        typer.echo(json.dumps(data))
        return
    rows = data["trials"]
    keys = sorted({k for row in rows for k in row["values"]})
    states = {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    counts = ", ".join(f"{n} {s.lower()}" for s, n in states.items() if n)
    print_listing(
        f"study {data['study']} ({directory}): {len(rows)} trials, {counts or 'none'}; best first",
        ["trial", "state", "value", *(k.removeprefix("agent.") for k in keys)],
        [
            [
                str(r["number"]),
                r["state"].lower(),
                "-" if r["value"] is None else f"{r['value']:.2f}",
                *(_fmt(r["values"].get(k, "-")) for k in keys),
            ]
            for r in rows[:top]
        ],
    )
    if data["importances"]:
        typer.echo(
            "parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in data["importances"].items())
        )
    if data["best_config"]:
        typer.echo(f"best config: {data['best_config']} (`neurenix train {data['best_config']}`)")

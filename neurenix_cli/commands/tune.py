"""`neurenix tune CONFIG --trials N`: an Optuna study over the config's `search:` block; `tune show STUDY`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


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
    sampler: Annotated[str, typer.Option("--sampler", help="tpe or random.")] = "tpe",
    pruner: Annotated[str, typer.Option("--pruner", help="median or none.")] = "median",
    seeds_per_trial: Annotated[
        int,
        typer.Option("--seeds-per-trial", min=1, help="Seeds trained per trial; its value is their mean."),
    ] = 1,
    runs_root: Annotated[
        Path, typer.Option("--runs-root", metavar="DIR", help="Create the study directory under DIR.")
    ] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per finished trial.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON object with every trial.")
    ] = False,
) -> None:
    """Tune CONFIG's `search:` block with Optuna (needs `pip install 'neurenix[tune]'`).

    Each trial trains --seeds-per-trial normal runs into RUNS_ROOT/tune-NAME/trial-<n>-seed<s>/; its value is
    their mean final evaluation. Running the same command again resumes the study and runs only the trials
    still missing. The best trial's config is written to RUNS_ROOT/tune-NAME/best.yaml.
    """
    from neurenix_cli import runs, tuning

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
    # One process tunes a study directory at a time (its runs' numbering and best.yaml are its own).
    with runs.RunLock(plan.directory if plan.directory.exists() else _made(plan.directory)):
        the_study = tuning.open_study(plan)
        abandoned = tuning.mark_abandoned(the_study)
        done = sum(tuning.counted(t) for t in the_study.get_trials(deepcopy=False))
        if not quiet:
            resumed = f", resuming at {done}" if done else ""
            typer.echo(
                f"study {plan.name}: {trials} trials{resumed} -> {plan.directory} ({plan.storage})", err=True
            )
            if abandoned:
                typer.echo(
                    f"trials {', '.join(map(str, abandoned))} were left running by a process that died: marked "
                    "FAIL, not counted",
                    err=True,
                )

        def report(outcome: dict, count: int) -> None:
            if not quiet:
                typer.echo(f"[{count}/{trials}] {_outcome_line(outcome)}", err=True)

        try:
            tuning.optimize(plan, the_study, trials, on_done=report)
        except tuning.TuneInterrupted:
            _render(the_study, plan.directory, as_json)
            if not as_json:
                typer.echo(
                    f"continue the study by running the same command again ({trials} trials)", err=True
                )
            raise
        _render(the_study, plan.directory, as_json)
        if tuning.best_trial(the_study) is None:
            # A study of failed and pruned trials has no value to report: a script must not take it as tuned.
            typer.echo(
                f"error: no trial of study {plan.name} completed (see the table for why); best.yaml not written.",
                err=True,
            )
            raise typer.Exit(1)


def _made(directory: Path) -> Path:
    from neurenix_cli import runs

    runs.make_dirs(directory)
    return directory


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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with every trial.")] = False,
) -> None:
    """Print a study's best trials, its counts and (with enough trials) Optuna's parameter importances."""
    from neurenix_cli import tuning

    the_study, directory = tuning.load(study, storage, runs_root)
    _render(the_study, directory, as_json, top=top)


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

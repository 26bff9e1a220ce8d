"""`neurenix eval RUN_DIR`: rebuild a run's agent from a checkpoint and measure it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def evaluate(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A directory `neurenix train` created.")],
    episodes: Annotated[int, typer.Option("--episodes", "-n", min=1, help="Episodes to run.")] = 10,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            metavar="best|last|PATH",
            show_default=False,
            help="Which checkpoint to load (default: best, else last).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", show_default=False, help="Seed of the evaluation env (default: the run's seed + 20000)."
        ),
    ] = None,
    stochastic: Annotated[
        bool, typer.Option("--stochastic", help="Act with exploration (default: greedy).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON object with the result.")
    ] = False,
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            metavar="DIR",
            show_default=False,
            help="Record each episode as DIR/eval-episode-<i>.mp4 (needs `pip install 'neurenix[video]'`).",
        ),
    ] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Only print the result: write no RUN_DIR/eval.json.")
    ] = False,
) -> None:
    """Evaluate a trained run: mean +/- std, min and max return over N episodes; also writes RUN_DIR/eval.json.

    A run directory that cannot be written (read-only, full) still gets its result printed, with a warning.
    """
    from neurenix import configure_runtime
    from neurenix_cli import experiment

    # The engine's process settings, which importing it leaves alone (training sets them itself, in Agent.train);
    # here rather than at startup, which would load the engine for `--help` and `list` too.
    configure_runtime()
    result = experiment.evaluate(
        run_dir,
        episodes=episodes,
        checkpoint=checkpoint,
        seed=seed,
        deterministic=not stochastic,
        video_dir=video,
        save=False,
    )
    _print(result, as_json, video)
    if not no_save:
        _save(result)


def _save(result: dict) -> None:
    """eval.json, or one line on stderr saying why not: the result is printed already and must not be lost to
    an exit 1 because the run directory is read-only."""
    from neurenix_cli import experiment

    try:
        experiment.save_evaluation(result)
    except OSError as exc:
        typer.echo(
            f"warning: could not write {experiment.EVAL_NAME} in {result['run_dir']} ({exc.strerror or exc}); "
            "the result is only printed (keep it with --json > FILE; --no-save skips the write).",
            err=True,
        )


def _print(result: dict, as_json: bool, video: Path | None) -> None:
    from neurenix_cli.numbers import thousands
    from neurenix_cli.reporting import print_table

    if as_json:
        typer.echo(json.dumps(result))
        return
    print_table(
        f"evaluation of {result['run_dir']}",
        [
            (
                "return",
                f"{result['mean_reward']:.2f} +/- {result['std_reward']:.2f} over {result['episodes']} episodes",
            ),
            ("min / max", f"{result['min_reward']:.2f} / {result['max_reward']:.2f}"),
            ("checkpoint", f"{result['checkpoint']} (step {thousands(result['checkpoint_steps'])})"),
            ("actions", "greedy" if result["deterministic"] else "stochastic"),
            ("env seed", str(result["seed"])),
            *([("videos", f"{len(result['videos'])} in {video}")] if video is not None else []),
        ],
    )

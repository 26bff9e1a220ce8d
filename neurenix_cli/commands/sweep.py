"""`neurenix sweep CONFIG --seeds 0-9 --set KEY=V1,V2...`: a grid of configs x seeds, in parallel or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from neurenix_cli.sweeps import Sweep


# --ray-address, which `sweep` and `tune` share.
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        show_default=False,
        help="The Ray cluster to run on, e.g. ray://head:10001 or auto (implies --ray).",
    ),
]


def sweep(
    config: Annotated[
        Path,
        typer.Argument(metavar="CONFIG", show_default=False, help="The YAML config every run starts from."),
    ],
    seeds: Annotated[
        str, typer.Option("--seeds", metavar="SEEDS", help="Seeds of every grid point: 0-9, 0,3,7 or 0-4,10.")
    ] = "0",
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=V1,V2,...",
            show_default=False,
            help="A config key and its values (YAML, split at top-level commas: [64,64],[128,128] is two "
            "lists); repeatable, the grid is every combination. One value just overrides the key.",
        ),
    ] = None,
    runs_root: Annotated[
        Path, typer.Option("--runs-root", metavar="DIR", help="Create the sweep directory under DIR.")
    ] = Path("runs"),
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            show_default=False,
            help="Runs trained at once (default: the number of cores).",
        ),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run each training as a Ray task: on RAY_ADDRESS's cluster if set, else on a new local Ray "
            "instance (needs `pip install 'neurenix[ray]'`).",
        ),
    ] = False,
    ray_address: RayAddress = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per finished run.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON object with every point and run.")
    ] = False,
) -> None:
    """Train a grid of --set values x seeds, each as a normal run, and tabulate the final evaluations.

    Prints the mean +/- std (over seeds) of the final evaluation per grid point.
    The runs go into RUNS_ROOT/sweep-<algo>_<env>_<time>/, next to a sweep.json that lists them.
    """
    from neurenix_cli import sweeps

    sweep = sweeps.plan(config, sets or [], sweeps.parse_seeds(seeds), runs_root)
    total = len(sweep.jobs)
    finished = 0

    def report(job: sweeps.Job, summary: dict) -> None:
        nonlocal finished
        finished += 1
        if quiet or as_json:
            return
        final = summary.get("final_eval")
        text = f"final eval {final:.2f}" if final is not None else summary.get("error") or "no evaluation"
        typer.echo(f"[{finished}/{total}] {job.run_dir.name}: {summary.get('status')}, {text}", err=True)

    if not (quiet or as_json):
        where = f"Ray ({ray_address or 'default address'})" if ray or ray_address else "local processes"
        typer.echo(f"sweep of {total} runs on {where} -> {sweep.directory}", err=True)
    try:
        if ray or ray_address:
            results = sweeps.run_ray(sweep.jobs, ray_address, on_done=report)
        else:
            results = sweeps.run_local(sweep.jobs, workers, on_done=report)
    except sweeps.SweepInterrupted as exc:
        _render(sweep, exc.results, as_json)
        stopped = [r for r, s in exc.results.items() if s.get("status") == "interrupted"]
        if stopped and not as_json:
            typer.echo(
                f"continue an interrupted run with `neurenix train --resume RUN_DIR`: {', '.join(stopped)}",
                err=True,
            )
        raise
    _render(sweep, results, as_json)


def _render(sweep: Sweep, results: dict, as_json: bool) -> None:
    from neurenix_cli import sweeps
    from neurenix_cli.reporting import print_listing

    sweeps.write_sweep_file(sweep, results)
    rows = sweeps.points_table(sweep, results)
    if as_json:
        typer.echo(sweeps.sweep_json(sweep, rows))
        return
    keys = [k for k, values in sweep.grid.items() if len(values) > 1]
    print_listing(
        f"sweep {sweep.directory} (final eval over seeds {','.join(map(str, sweep.seeds))})",
        [*keys, "completed", "final eval"],
        [
            [
                *(row["point"][k] for k in keys),
                f"{row['completed']}/{len(row['runs'])}",
                "-"
                if row["final_eval_mean"] is None
                else f"{row['final_eval_mean']:.2f} +/- {row['final_eval_std']:.2f}",
            ]
            for row in rows
        ],
    )

"""`neurenix plot RUN_DIR...`: learning curves of runs as a PNG; the seeds of one config share a line and a band."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class XAxis(str, enum.Enum):
    steps = "steps"
    time = "time"


class Band(str, enum.Enum):
    minmax = "minmax"
    std = "std"


def plot(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR...",
            show_default=False,
            help="Run directories, or directories of runs (a sweep, a runs root).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The PNG to write.")] = Path(
        "curve.png"
    ),
    x: Annotated[
        XAxis, typer.Option("--x", help="The x axis: env steps or wall-clock seconds.")
    ] = XAxis.steps,
    smooth: Annotated[
        int, typer.Option("--smooth", min=1, metavar="N", help="Average each run's return over N episodes.")
    ] = 10,
    band: Annotated[
        Band, typer.Option("--band", help="The shaded band across seeds: min to max, or mean +/- std.")
    ] = Band.minmax,
    title: Annotated[
        str | None, typer.Option("--title", show_default=False, help="The figure's title.")
    ] = None,
) -> None:
    """Plot the return per episode of one or more runs into a PNG.

    Runs whose config.yaml is the same except for the seed form one group: one line (the mean over its seeds)
    with a shaded band; a legend names what tells the groups apart (numbered when that is long, with the key
    printed in full). Needs `pip install 'neurenix[plot]'`.
    """
    from neurenix_cli import curves, runs
    from neurenix_cli.extras import require

    require("matplotlib", "plot", "neurenix plot")
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, and no display needed on a server
    import matplotlib.pyplot as plt

    groups = curves.group_runs(curves.expand_runs(run_dirs))
    settings = curves.group_labels(groups)
    labels = curves.legend_labels(settings)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    drawn = 0
    try:
        for group, label in zip(groups, labels):
            curve = curves.aggregate(group.runs, x=x.value, window=smooth, band=band.value)
            if curve is None:
                typer.echo(f"skipped {label}: no finished episodes", err=True)
                continue
            (line,) = ax.plot(curve.x, curve.mean, label=label, linewidth=1.5)
            if curve.n_runs > 1:
                ax.fill_between(
                    curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2, linewidth=0
                )
            drawn += 1
        if not drawn:
            raise runs.RunDirError("none of these runs has a finished episode yet; nothing to plot.")
        ax.set_xlabel(curves.X_LABELS[x.value])
        ax.set_ylabel(f"episode return (mean of {smooth})" if smooth > 1 else "episode return")
        spread = "min to max" if band is Band.minmax else "mean +/- std"
        ax.set_title(title or f"learning curves (band: {spread} across seeds)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    n_runs = sum(len(g.runs) for g in groups)
    typer.echo(f"wrote {out} ({drawn} curve{'s' if drawn != 1 else ''} from {n_runs} runs)")
    if labels != settings:  # the legend is numbered and cut: its key, in full
        typer.echo("legend:")
        for number, text in enumerate(settings, 1):
            typer.echo(f"  #{number} {text}")

"""`neurenix zoo import FILE.yml ENV_ID`: an RL Zoo hyperparameter entry as a Neurenix config on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def import_(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE.yml", help="An RL Zoo hyperparameter file, e.g. hyperparams/ppo.yml."),
    ],
    env_id: Annotated[str, typer.Argument(metavar="ENV_ID", help="The entry to import, e.g. CartPole-v1.")],
    algo: Annotated[
        str | None,
        typer.Option(
            "--algo", help="The algorithm (a2c, ppo, dqn, sac, td3, ddpg); default: the file's name."
        ),
    ] = None,
) -> None:
    """Print the Neurenix config of one RL Zoo entry: `neurenix zoo import ppo.yml CartPole-v1 > ppo.yaml`.

    Every key of the entry is translated, and the keys it leaves out are written with SB3's defaults, so the
    config trains what the Zoo entry trains. A key Neurenix cannot express (gSDE, episode-based train_freq,
    env wrappers, ...) is named in the error (exit 2) and nothing is printed. Expressions such as
    "dict(net_arch=[64, 64])" are read, never run.
    """
    from neurenix_cli.zoo import import_entry

    typer.echo(import_entry(file, env_id, algo), nl=False)

"""The `neurenix` app: assembles the commands and holds the one error boundary.

Every command runs inside `boundary`, which turns an exception into one paragraph on stderr and an exit code
(tracebacks only with `--debug`). Nothing heavy is imported here: numpy, gymnasium and the engine load inside
the commands that need them, so `neurenix --help` starts fast.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from neurenix_cli.commands import eval as eval_command
from neurenix_cli.commands import list as list_command
from neurenix_cli.commands import plot as plot_command
from neurenix_cli.commands import schema as schema_command
from neurenix_cli.commands import show as show_command
from neurenix_cli.commands import sweep as sweep_command
from neurenix_cli.commands import train as train_command
from neurenix_cli.commands import tune as tune_command
from neurenix_cli.commands import zoo as zoo_command
from neurenix_cli.numbers import thousands

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 the run failed (an error during training, a corrupt checkpoint); "
    "2 bad usage or config (nothing was trained); 130 interrupted by Ctrl-C (SIGINT) and 143 stopped by SIGTERM "
    "(both save checkpoints/last and mark the run interrupted; resume with `neurenix train --resume RUN_DIR`)."
)


class LiteralHelp:
    """Help shown as written. Rich reads `[tensorboard]` in `pip install 'neurenix[tensorboard]'` as markup and
    drops it, so every text is escaped once, when Typer builds the command; and Typer labels a flag `<bool>`
    although it takes no value, so flags (Typer's own --help and completion options too) get no label."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.rich_markup_mode == "rich":
            from rich.markup import escape

            self.help, self.short_help, self.epilog = (
                escape(text) if text else text for text in (self.help, self.short_help, self.epilog)
            )
            for param in self.params:
                if getattr(param, "help", None):
                    param.help = escape(param.help)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.get_params(ctx):
            if getattr(param, "is_flag", False):
                param.metavar = ""
        super().format_help(ctx, formatter)


class LiteralHelpGroup(LiteralHelp, TyperGroup):
    """The app, whose help lists the commands by their first line."""


class LiteralHelpCommand(LiteralHelp, TyperCommand):
    """One command; `add_command` makes every command one."""


class DefaultCommandGroup(LiteralHelpGroup):
    """A group whose first argument, when it names none of its commands, goes to its `run` command:
    `neurenix tune CONFIG --trials N` is `neurenix tune run CONFIG --trials N`, beside `neurenix tune show`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=LiteralHelpGroup,
    name="neurenix",
    help="Train and evaluate reinforcement-learning agents from YAML configs.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False, "console": False}


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        typer.echo(f"neurenix {metadata.version('neurenix')}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks for errors (also NEURENIX_DEBUG=1)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Train and evaluate reinforcement-learning agents from YAML configs."""
    # Set on every invocation: an app reused in one process (tests, notebooks) must not keep an old --debug.
    _state["debug"] = debug or bool(os.environ.get("NEURENIX_DEBUG"))


def classify(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-paragraph message) for an exception that reached the boundary."""
    if isinstance(exc, KeyboardInterrupt):
        signum = getattr(exc, "signum", signal.SIGINT)
        summary = getattr(exc, "summary", None)
        name = signal.Signals(signum).name
        if summary:
            return 128 + signum, (
                f"interrupted by {name} at step {thousands(summary.get('total_steps'))}; the run is marked "
                f"interrupted. Continue it with `neurenix train --resume {summary.get('run_dir')}`."
            )
        return 128 + signum, f"interrupted by {name}."
    from neurenix.errors import CheckpointError, ConfigError, EnvironmentNotFoundError, NeurenixError
    from neurenix_cli.extras import MissingExtraError
    from neurenix_cli.runs import RunDirError

    if isinstance(exc, (ConfigError, EnvironmentNotFoundError, RunDirError, MissingExtraError)):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, CheckpointError):
        return EXIT_FAILED, f"checkpoint problem: {exc}"
    if isinstance(exc, NeurenixError):
        return EXIT_FAILED, f"the run failed: {exc}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return EXIT_FAILED, f"{where}{exc.strerror or exc} (check free disk space and permissions)."
    return EXIT_FAILED, (
        f"unexpected {type(exc).__name__}: {exc}. This is a bug in neurenix; rerun with "
        "`neurenix --debug ...` for the traceback and report it."
    )


def boundary(command: Callable[..., Any]) -> Callable[..., Any]:
    """The CLI's one error path: message + exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException, SystemExit):
            raise  # usage errors Typer itself reports (exit 2), and deliberate exits
        except BaseException as exc:
            _ignore_further_signals()
            code, message = classify(exc)
            if _state["debug"]:
                traceback.print_exception(exc, file=sys.stderr)
            typer.echo(f"error: {message}" if code in (EXIT_FAILED, EXIT_USAGE) else message, err=True)
            raise typer.Exit(code) from None
        finally:
            _ignore_further_signals()

    return wrapper


def _ignore_further_signals() -> None:
    """The console script is on its way out, its exit code decided: a Ctrl-C now (pressed again while a run
    shuts down) must not turn exit 130 into `Aborted!` (exit 1) or a death by SIGINT with a traceback. Callers
    of the app inside their own process (tests, notebooks) keep their handlers."""
    if _state["console"]:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def add_command(
    name: str, command: Callable[..., Any], epilog: str | None = None, group: typer.Typer = app
) -> None:
    """Every command goes through the error boundary and shows its help as written."""
    group.command(name, cls=LiteralHelpCommand, epilog=epilog)(boundary(command))


add_command("train", train_command.train, epilog=EXIT_CODES_HELP)
add_command("eval", eval_command.evaluate, epilog=EXIT_CODES_HELP)
add_command("list", list_command.list_)
add_command("show", show_command.show)
add_command("plot", plot_command.plot)
add_command("sweep", sweep_command.sweep, epilog=EXIT_CODES_HELP)
add_command("schema", schema_command.schema)

zoo_app = typer.Typer(
    cls=LiteralHelpGroup,
    help="Use RL Zoo hyperparameter files: `neurenix zoo import FILE.yml ENV_ID > config.yaml`.",
    no_args_is_help=True,
)
add_command("import", zoo_command.import_, group=zoo_app)
app.add_typer(zoo_app, name="zoo")

tune_app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Tune a config's `search:` block with Optuna: `neurenix tune CONFIG --trials N` (the same as `neurenix "
    "tune run CONFIG ...`), `neurenix tune show STUDY`. Needs `pip install 'neurenix[tune]'`.",
    no_args_is_help=True,
)
TUNE_EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 no trial completed (each failed or was pruned); 2 bad usage, config or search block "
    "(no trial ran); 130 interrupted by Ctrl-C (SIGINT) and 143 stopped by SIGTERM (the trial in progress stops "
    "and does not count; run the same command again to continue the study)."
)
add_command("run", tune_command.run, epilog=TUNE_EXIT_CODES_HELP, group=tune_app)
add_command("show", tune_command.show, group=tune_app)
app.add_typer(tune_app, name="tune")


def _sigterm(signum: int, frame: Any) -> None:
    exc = KeyboardInterrupt("SIGTERM")
    exc.signum = signum  # type: ignore[attr-defined]
    raise exc


def run() -> None:
    """The `neurenix` console script. SIGTERM outside training becomes the same clean exit (143) as Ctrl-C's 130;
    during training `experiment.train` turns both into a graceful stop."""
    signal.signal(signal.SIGTERM, _sigterm)
    _state["console"] = True
    app(prog_name="neurenix")


if __name__ == "__main__":
    run()

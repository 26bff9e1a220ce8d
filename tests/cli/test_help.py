"""`--help` shows its texts as written: Rich markup is not interpreted (`[tensorboard]` stays in the install hint)
and flags carry no `<bool>` label; usage errors exit 2 with Click's message."""

from __future__ import annotations

import pytest
from clitools import run_cli
from typer.main import get_command
from typer.testing import CliRunner

from neurenix_cli.main import app

COMMANDS = sorted(get_command(app).commands)


def help_text(*command: str) -> str:
    # Wide enough for one line per option, so that wrapping never cuts a hint in two.
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("command", "extra"), [("train", "tensorboard"), ("eval", "video"), ("plot", "plot"), ("sweep", "ray")]
)
def test_help_names_the_extra_to_install(command, extra):
    assert f"pip install 'neurenix[{extra}]'" in help_text(command)


@pytest.mark.parametrize("command", ["neurenix", *COMMANDS])
def test_flags_show_no_bool_label(command):
    text = help_text(*([] if command == "neurenix" else [command]))
    assert "--help" in text and "<bool>" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "--bogus"], "No such option: --bogus"), (["eval"], "Missing argument 'RUN_DIR'")],
)
def test_a_usage_error_exits_2_with_its_message_and_no_traceback(args, message):
    proc = run_cli(*args)  # the console script off a terminal, as a script or cron runs it
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" and f"neurenix {args[0]} -h" in proc.stderr, "the usage line and where help is"

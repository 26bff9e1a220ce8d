"""Shell completion (Typer's): offered in --help and answering a shell's completion request."""

from __future__ import annotations

import os
import subprocess

from clitools import NEURENIX


def test_help_offers_completion_install(cli):
    result = cli("--help")
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


def complete(words: str) -> list[str]:
    """What bash would get when the user presses Tab after `words`."""
    env = {
        **os.environ,
        "_NEURENIX_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    out = subprocess.run(NEURENIX, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_commands_and_choices_complete():
    assert complete("neurenix sw") == ["sweep"]
    assert {"train", "eval", "plot", "show", "schema", "list"} <= set(complete("neurenix "))
    assert complete("neurenix plot --x ") == ["steps", "time"]

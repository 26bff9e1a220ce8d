"""`neurenix eval RUN_DIR`: checkpoints, seeds, JSON output, and the exit codes of bad runs and checkpoints."""

from __future__ import annotations

import errno
import json
import shutil
import statistics
from pathlib import Path

import pytest
from clitools import load_json, run_cli


def test_eval_json_parses_and_eval_json_is_written(cli, trained_run):
    result = cli("eval", trained_run, "--episodes", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {
        "mean_reward",
        "std_reward",
        "min_reward",
        "max_reward",
        "episodes",
        "rewards",
        "checkpoint",
    } <= set(data)
    assert data["episodes"] == 3 and len(data["rewards"]) == 3
    assert data["min_reward"] <= data["mean_reward"] <= data["max_reward"]
    assert data["mean_reward"] == pytest.approx(sum(data["rewards"]) / 3)
    assert data["checkpoint"].endswith("checkpoints/best"), "best is the default"
    assert load_json(trained_run / "eval.json") == data


def test_eval_is_reproducible_and_records_its_seed_and_checkpoint(cli, trained_run, tmp_path):
    def rewards(*extra):
        result = cli("eval", trained_run, "--episodes", "4", "--json", "--checkpoint", "last", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = rewards()
    assert first["rewards"] == rewards()["rewards"], "same default seed, same episodes"
    assert first["seed"] == 20000 and rewards("--seed", "5")["seed"] == 5
    assert first["checkpoint"].endswith("checkpoints/last") and first["checkpoint_steps"] == 600


def test_stochastic_flag_turns_exploration_on(cli, trained_run):
    result = cli("eval", trained_run, "--episodes", "2", "--json", "--stochastic")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["deterministic"] is False


def test_eval_human_output(cli, trained_run):
    result = cli("eval", trained_run, "--episodes", "2")
    assert result.exit_code == 0
    assert "+/-" in result.stdout and "over 2 episodes" in result.stdout and "min / max" in result.stdout


def test_eval_a_checkpoint_path(cli, trained_run, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(trained_run / "checkpoints" / "last", copy)
    result = cli("eval", trained_run, "--episodes", "1", "--json", "--checkpoint", copy)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checkpoint"] == str(copy)


def test_eval_of_a_directory_that_is_not_a_run_exits_2(cli, tmp_path):
    result = cli("eval", tmp_path, "--json")
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("name", ["best", "last"])
def test_eval_of_a_checkpoint_inside_a_run_gives_the_command_that_works(cli, trained_run, name):
    result = cli("eval", trained_run / "checkpoints" / name, "--json")
    assert result.exit_code == 2 and result.stdout == ""
    command = ["eval", str(trained_run), "--checkpoint", name]
    assert f"inside run {trained_run}" in result.stderr and f"`neurenix {' '.join(command)}`" in result.stderr
    suggested = cli(*command, "--episodes", "1", "--json", "--no-save")
    assert suggested.exit_code == 0, suggested.output
    assert json.loads(suggested.stdout)["checkpoint"].endswith(f"checkpoints/{name}")


def contents(run: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory (None) under `run`, by relative path."""
    return {p.relative_to(run).as_posix(): p.read_bytes() if p.is_file() else None for p in run.rglob("*")}


def _eval_json_is_a_directory(run: Path, monkeypatch) -> str:
    (run / "eval.json").unlink(missing_ok=True)  # an earlier test's
    (run / "eval.json").mkdir()  # a real failure to write it, even for root (who ignores chmod)
    return "Is a directory"


def _read_only_file_system(run: Path, monkeypatch) -> str:
    from neurenix_cli import runs

    def refuse(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(runs, "atomic_write_text", refuse)
    return "Read-only file system"


@pytest.mark.parametrize("unwritable", [_eval_json_is_a_directory, _read_only_file_system])
def test_a_run_directory_that_cannot_be_written_still_gets_its_result(
    cli, trained_run, tmp_path, monkeypatch, unwritable
):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    reason = unwritable(run, monkeypatch)
    before = contents(run)
    result = cli("eval", run, "--episodes", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["episodes"] == 2, "the result is printed"
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: could not write eval.json") and reason in warning, warning
    assert contents(run) == before, "nothing already written is lost"
    human = cli("eval", run, "--episodes", "2")
    assert human.exit_code == 0 and "over 2 episodes" in human.stdout and reason in human.stderr


def test_no_save_prints_the_result_and_writes_nothing(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = contents(run)
    result = cli("eval", run, "--episodes", "1", "--json", "--no-save")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["episodes"] == 1 and result.stderr == ""
    assert contents(run) == before


# Returns as float arithmetic leaves them (a float32 sum of -1 rewards, 0.1 + 0.2, a third).
NOISY = [-4.999999999999998, 0.30000000000000004, 1 / 3]


def noisy_returns(self, env, episodes, **kwargs):
    return [NOISY[i % len(NOISY)] for i in range(episodes)]


def test_eval_floats_keep_six_significant_digits(cli, trained_run, tmp_path, monkeypatch):
    from neurenix.rl.base import BaseAgent

    monkeypatch.setattr(BaseAgent, "evaluate", noisy_returns)
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    result = cli("eval", run, "--episodes", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rewards"] == [-5.0, 0.3, 0.333333]
    assert data["mean_reward"] == -1.45556 and data["std_reward"] == float(f"{statistics.pstdev(NOISY):.6g}")
    assert data["min_reward"] == -5.0 and load_json(run / "eval.json") == data
    human = cli("eval", run, "--episodes", "3", "--no-save")
    assert "-1.46 +/-" in human.stdout and "-5.00 / 0.33" in human.stdout


def test_eval_of_a_missing_checkpoint_exits_2(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.rmtree(run / "checkpoints" / "best")
    result = cli("eval", run, "--checkpoint", "best")
    assert result.exit_code == 2 and "--checkpoint last" in result.stderr


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage_meta"])
def test_a_corrupt_checkpoint_fails_cleanly_with_exit_1(cli, trained_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    ckpt = run / "checkpoints" / "best"
    arrays = ckpt / "arrays.npz"
    if damage == "truncate":
        arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
    elif damage == "flip":
        data = bytearray(arrays.read_bytes())
        data[len(data) // 2] ^= 0xFF
        arrays.write_bytes(bytes(data))
    else:
        (ckpt / "meta.json").write_text("{not json")
    result = cli("eval", run, "--json")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: checkpoint problem") and "Traceback" not in result.stderr


def test_eval_from_a_real_process(trained_run):
    proc = run_cli("eval", trained_run, "--episodes", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["episodes"] == 2

"""`neurenix list [algorithms|configs|runs]` and the fast start of `--help` and `list`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from clitools import TINY, load_json, run_cli, write_config


def test_list_algorithms_shows_the_action_spaces(cli):
    result = cli("list", "algorithms")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["dqn"])
    assert "discrete" in row and "box" not in row


def test_list_configs_reads_algorithm_and_env_and_survives_broken_files(cli, tmp_path):
    write_config(tmp_path, name="a.yaml")
    write_config(tmp_path, {**TINY, "env": {"id": "Acrobot-v1"}}, name="b.yml")
    (tmp_path / "broken.yaml").write_text("algorithm: [\n")
    result = cli("list", "configs", "--configs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    configs = {c["file"].rsplit("/", 1)[-1]: c for c in json.loads(result.stdout)["configs"]}
    assert (configs["a.yaml"]["algorithm"], configs["a.yaml"]["env"]) == ("dqn", "CartPole-v1")
    assert configs["b.yml"]["env"] == "Acrobot-v1" and configs["a.yaml"]["budget"] == "600 steps"
    assert "unreadable" in configs["broken.yaml"]["error"]


def test_list_configs_flags_a_key_given_twice_as_train_would_refuse_it(cli, tmp_path):
    write_config(tmp_path, name="a.yaml")
    text = (tmp_path / "a.yaml").read_text()
    (tmp_path / "twice.yaml").write_text(text + "algorithm: ppo\n")
    result = cli("list", "configs", "--configs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    configs = {c["file"].rsplit("/", 1)[-1]: c for c in json.loads(result.stdout)["configs"]}
    assert configs["a.yaml"]["algorithm"] == "dqn" and "error" not in configs["a.yaml"]
    twice = configs["twice.yaml"]
    assert twice["algorithm"] is None, "a file with a key given twice shows neither of its values"
    assert twice["error"].startswith("duplicate key algorithm (lines ")
    table = cli("list", "configs", "--configs-dir", tmp_path)
    assert "duplicate key algorithm" in " ".join(table.stdout.split())


def test_list_configs_ships_the_repository_configs(cli):
    result = cli(
        "list", "configs", "--configs-dir", os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    )
    assert result.exit_code == 0
    assert "dqn_cartpole.yaml" in result.stdout and "CartPole-v1" in result.stdout


def test_list_runs_with_status_steps_best_and_age(cli, trained_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained_run, root / "finished")
    # A run whose process died: summary still says running, but no live process holds its lock.
    shutil.copytree(trained_run, root / "killed")
    summary = load_json(root / "killed" / "summary.json")
    (root / "killed" / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    (root / "killed" / ".lock").write_text("999999999\n")
    (root / "not-a-run").mkdir()

    result = cli("list", "runs", "--runs-root", root, "--json")
    assert result.exit_code == 0, result.output
    listed = {r["run"].rsplit("/", 1)[-1]: r for r in json.loads(result.stdout)["runs"]}
    assert set(listed) == {"finished", "killed"}
    assert listed["finished"]["status"] == "completed" and listed["killed"]["status"] == "dead"
    assert (
        listed["finished"]["total_steps"] == 600 and listed["finished"]["best_eval"] == summary["best_eval"]
    )
    assert 0 <= listed["finished"]["age_s"] < 3600

    table = cli("list", "runs", "--runs-root", root)
    assert "finished" in table.stdout and "completed" in table.stdout and "dead" in table.stdout


def test_list_runs_shows_the_runs_inside_sweep_directories(cli, trained_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained_run, root / "single")
    sweep = root / "sweep-dqn_CartPole-v1_20261121-120000"
    for name in ("p0_lr=0.001_seed0", "p1_lr=0.01_seed0"):
        shutil.copytree(trained_run, sweep / name)
    (sweep / "sweep.json").write_text("{}")
    (root / "not-a-sweep" / "p0").mkdir(parents=True)  # no sweep.json: not looked into

    result = cli("list", "runs", "--runs-root", root, "--json")
    assert result.exit_code == 0, result.output
    listed = sorted(r["run"][len(str(root)) + 1 :] for r in json.loads(result.stdout)["runs"])
    assert listed == [
        "single",
        "sweep-dqn_CartPole-v1_20261121-120000/p0_lr=0.001_seed0",
        "sweep-dqn_CartPole-v1_20261121-120000/p1_lr=0.01_seed0",
    ]


def test_list_without_argument_shows_all_three(cli, tmp_path):
    result = cli("list", "--configs-dir", tmp_path / "none", "--runs-root", tmp_path / "none")
    assert result.exit_code == 0
    assert "algorithms" in result.stdout
    assert "no *.yaml files" in result.stdout and "no runs yet" in result.stdout


def test_list_of_an_unknown_section_is_a_usage_error(cli):
    assert cli("list", "weights").exit_code == 2


def test_help_documents_the_exit_codes(tmp_path):
    proc = run_cli("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for command in ("train", "eval", "list"):
        assert command in text
    for code in ("0 success", "1 the run failed", "2 bad usage", "130", "143"):
        assert code in text, code


def test_help_and_list_runs_do_not_import_the_engine_or_gymnasium(tmp_path):
    write_config(tmp_path, name="a.yaml")  # so that `list configs` reads one
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from neurenix_cli.main import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        f"assert CliRunner().invoke(app, ['list', 'runs', '--runs-root', {str(tmp_path)!r}]).exit_code == 0\n"
        f"assert CliRunner().invoke(app, ['list', 'configs', '--configs-dir', {str(tmp_path)!r}]).exit_code == 0\n"
        "heavy = sorted(m for m in ('numpy', 'gymnasium', 'neurenix') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported at startup: {proc.stdout}"

"""`neurenix sweep`: the grid syntax, 2 seeds x 2 values as 4 normal runs, and a table that matches the runs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml
from clitools import only_run_dir

from neurenix.errors import ConfigError
from neurenix_cli import runs
from neurenix_cli.sweeps import parse_grid, parse_seeds, split_values


def test_seeds_syntax():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5") == [5]
    assert parse_seeds("0-2,7,2") == [0, 1, 2, 7]
    for bad in ("a", "3-1", "1-", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_values_split_at_top_level_commas_only():
    assert split_values("0.1,0.2") == ["0.1", "0.2"]
    assert split_values("[64,64]") == ["[64,64]"]
    assert split_values("[64,64],[128, 128]") == ["[64,64]", "[128, 128]"]
    assert split_values("{a: 1, b: 2},null") == ["{a: 1, b: 2}", "null"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    assert parse_grid(["agent.hidden_dims=[8],[8,8]", "seed=3"]) == {
        "agent.hidden_dims": ["[8]", "[8,8]"],
        "seed": ["3"],
    }
    for bad in (["nokey"], ["a=1,,2"], ["a=1", "a=2"]):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def final_evals(run_dir: Path) -> float:
    """A run's final evaluation, from its own evals.csv (the row at its last step)."""
    rows = runs.read_csv(run_dir / "evals.csv")
    return float(rows[-1]["mean_reward"])


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """2 seeds x 2 hidden sizes (one value a list with a comma) through the real CLI, in 2 worker processes."""
    from clitools import write_config
    from typer.testing import CliRunner

    from neurenix_cli.main import app

    root = tmp_path_factory.mktemp("sweep")
    config = write_config(root)
    args = ["sweep", str(config), "--seeds", "0-1", "--set", "agent.hidden_dims=[8],[8,8]"]
    args += ["--set", "train.total_steps=400", "--runs-root", str(root / "runs"), "--workers", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root, json.loads(result.stdout)


def test_sweep_makes_one_normal_run_per_point_and_seed(swept):
    root, out = swept
    sweep_dir = only_run_dir(root / "runs")
    assert Path(out["sweep_dir"]) == sweep_dir
    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(run_dirs) == 4
    seen = set()
    for run in run_dirs:
        summary = runs.read_summary(run)
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert summary["status"] == "completed" and summary["total_steps"] == 400
        assert (run / "checkpoints" / "last" / "arrays.npz").is_file()
        assert config["train"]["total_steps"] == 400
        seen.add((tuple(config["agent"]["hidden_dims"]), config["seed"]))
    assert seen == {((8,), 0), ((8,), 1), ((8, 8), 0), ((8, 8), 1)}
    listed = json.loads((sweep_dir / "sweep.json").read_text())
    assert {r["status"] for r in listed["runs"]} == {"completed"}


def test_sweep_table_is_the_mean_and_std_of_the_runs_final_evals(swept):
    _, out = swept
    assert [p["point"]["agent.hidden_dims"] for p in out["points"]] == ["[8]", "[8,8]"]
    for point in out["points"]:
        finals = [final_evals(Path(r["run_dir"])) for r in point["runs"]]
        assert sorted(r["seed"] for r in point["runs"]) == [0, 1]
        assert point["completed"] == 2
        assert point["final_eval_mean"] == pytest.approx(statistics.fmean(finals), abs=1e-4)
        assert point["final_eval_std"] == pytest.approx(statistics.pstdev(finals), abs=1e-4)


def test_sweep_prints_the_table(cli, tiny_config, tmp_path):
    result = cli(
        "sweep",
        tiny_config,
        "--seeds",
        "3-4",
        "--set",
        "train.total_steps=300",
        "--runs-root",
        tmp_path,
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    sweep_dir = only_run_dir(tmp_path)
    finals = [final_evals(p) for p in sorted(sweep_dir.iterdir()) if p.is_dir()]
    expected = f"{statistics.fmean(finals):.2f} +/- {statistics.pstdev(finals):.2f}"
    assert "2/2" in result.stdout and expected in result.stdout
    assert "[2/2]" in result.stderr, "a line per finished run"


def test_a_bad_value_trains_nothing(cli, tiny_config, tmp_path):
    result = cli(
        "sweep", tiny_config, "--set", "agent.learning_rate=0.001,fast", "--runs-root", tmp_path / "runs"
    )
    assert result.exit_code == 2
    assert "agent.learning_rate" in result.stderr
    assert not (tmp_path / "runs").exists()

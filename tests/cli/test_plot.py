"""`neurenix plot`, `neurenix show` and the return curve at the end of `train`: real short runs, and the
numbers behind the pictures checked by hand."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml
from clitools import TINY, write_config
from typer.testing import CliRunner

from neurenix_cli import curves
from neurenix_cli.main import app

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHORT = {**TINY, "train": {**TINY["train"], "total_steps": 1000, "eval_every": 500}}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Path]:
    """Two seeds of one tiny DQN config, trained through the CLI."""
    root = tmp_path_factory.mktemp("plot")
    config = write_config(root, SHORT)
    out = []
    for seed in (0, 1):
        run = root / f"seed{seed}"
        result = CliRunner().invoke(
            app, ["train", str(config), "--run-dir", str(run), "--seed", str(seed), "-q"]
        )
        assert result.exit_code == 0, result.output
        out.append(run)
    return out


def test_plot_writes_a_png_of_the_runs(cli, seeds, tmp_path):
    out = tmp_path / "figs" / "curve.png"
    result = cli("plot", *seeds, "--out", out, "--smooth", "5")
    assert result.exit_code == 0, result.output
    assert "1 curve from 2 runs" in result.stdout, "two seeds of one config are one curve"
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (500, 800), "8x5 inches at 100 dpi"
    assert image[..., :3].std() > 0.05, "something is drawn"


def test_plot_by_time_and_std_band(cli, seeds, tmp_path):
    out = tmp_path / "t.png"
    result = cli("plot", *seeds, "--out", out, "--x", "time", "--band", "std", "--smooth", "1")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_a_directory_of_runs_expands_and_configs_group(cli, seeds, tmp_path):
    other = write_config(tmp_path, {**SHORT, "agent": {**SHORT["agent"], "learning_rate": 0.01}})
    run = tmp_path / "runs" / "lr"
    assert cli("train", other, "--run-dir", run, "-q").exit_code == 0
    result = cli("plot", seeds[0].parent, tmp_path / "runs", "--out", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert "2 curves from 3 runs" in result.stdout
    groups = curves.group_runs(curves.expand_runs([*seeds, run]))
    assert [len(g.runs) for g in groups] == [2, 1]
    assert curves.group_labels(groups) == [
        "agent.learning_rate=0.001 (2 runs)",
        "agent.learning_rate=0.01 (1 run)",
    ]


def fake_run(path: Path, agent: dict) -> Path:
    """A run directory as plot reads it: a config.yaml and a metrics.csv of three episodes."""
    path.mkdir(parents=True)
    config = {"algorithm": "dqn", "seed": 0, "env": {"id": "CartPole-v1"}, "agent": agent}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    rows = ["step,wall_s,return", "10,0.1,10", "30,0.2,20", "60,0.3,30"]
    (path / "metrics.csv").write_text("\n".join(rows) + "\n")
    return path


def test_runs_that_differ_in_many_keys_get_a_numbered_legend_and_a_printed_key(cli, tmp_path):
    many = {f"setting_{i}": i for i in range(8)}
    runs_ = [
        fake_run(tmp_path / "a", {**many, "learning_rate": 0.001}),
        fake_run(tmp_path / "b", {**{k: v + 100 for k, v in many.items()}, "learning_rate": 0.01}),
    ]
    full = curves.group_labels(curves.group_runs(runs_))
    assert all(len(label) > curves.LEGEND_CHARS for label in full), "the case the legend cannot hold"
    shown = curves.legend_labels(full)
    assert all(len(label) <= curves.LEGEND_CHARS for label in shown), shown
    assert shown[0].startswith("#1 agent.learning_rate=0.001, agent.setting_0=0, ") and shown[0].endswith(
        "... (1 run)"
    )
    assert shown[1].startswith("#2 ")

    result = cli("plot", *runs_, "--out", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1:] == ["legend:", f"  #1 {full[0]}", f"  #2 {full[1]}"], "the key, in full"


def test_short_labels_are_the_legend_as_they_are():
    labels = ["agent.learning_rate=0.001 (2 runs)", "agent.learning_rate=0.01 (1 run)"]
    assert curves.legend_labels(labels) == labels


def test_plot_without_matplotlib_says_how_to_install_it(cli, seeds, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = cli("plot", *seeds, "--out", tmp_path / "c.png")
    assert result.exit_code == 2
    assert "pip install 'neurenix[plot]'" in result.stderr
    assert not (tmp_path / "c.png").exists()


def test_plot_refuses_what_is_not_a_run(cli, tmp_path):
    result = cli("plot", tmp_path, "--out", tmp_path / "c.png")
    assert result.exit_code == 2
    assert "neither a run directory" in result.stderr


def test_plot_refuses_a_run_config_with_a_key_given_twice(cli, seeds, tmp_path):
    run = tmp_path / "edited"
    shutil.copytree(seeds[0], run)
    with open(run / "config.yaml", "a", encoding="utf-8") as f:
        f.write("seed: 7\n")  # a hand edit: which seed would group the run is anyone's guess
    result = cli("plot", run, seeds[1], "--out", tmp_path / "c.png")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "seed appears twice, at lines" in result.stderr
    assert not (tmp_path / "c.png").exists()


def test_show_prints_config_summary_and_curve(cli, seeds):
    result = cli("show", seeds[0])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "algorithm: dqn" in out and "total_steps: 1000" in out
    assert "completed" in out and "final eval" in out
    assert "return per episode" in out and "|" in out and "█" in out


@pytest.mark.parametrize("name", ["best", "last"])
def test_show_of_a_checkpoint_inside_a_run_gives_the_command_that_works(cli, seeds, name):
    result = cli("show", seeds[0] / "checkpoints" / name)
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    assert f"is a checkpoint inside run {seeds[0]}" in result.stderr
    assert f"`neurenix show {seeds[0]}`" in result.stderr
    assert cli("show", seeds[0]).exit_code == 0


def test_show_of_a_run_that_failed_before_its_first_episode_says_it_failed_and_why(
    cli, tiny_config, tmp_path, monkeypatch
):
    from neurenix.rl.algorithms.dqn import DQN

    monkeypatch.setattr(DQN, "update", lambda self: {"loss": float("nan")})
    run = tmp_path / "run"
    first_step = [
        arg
        for kv in ("learning_starts=0", "batch_size=1", "train_freq=1")
        for arg in ("--set", f"agent.{kv}")
    ]
    assert cli("train", tiny_config, "--run-dir", run, "--quiet", *first_step).exit_code == 1
    result = cli("show", run)
    assert result.exit_code == 0, result.output
    assert "no finished episodes yet" not in result.stdout
    assert "the run failed at step 1 before any episode ended: TrainingDivergedError" in result.stdout


def test_train_ends_with_the_curve_unless_quiet_or_json(cli, tiny_config, tmp_path):
    loud = cli("train", tiny_config, "--run-dir", tmp_path / "a")
    assert loud.exit_code == 0, loud.output
    assert "return per episode" in loud.stdout
    quiet = cli("train", tiny_config, "--run-dir", tmp_path / "b", "--quiet")
    assert "return per episode" not in quiet.stdout
    as_json = cli("train", tiny_config, "--run-dir", tmp_path / "c", "--json")
    assert "return per episode" not in as_json.stdout


# ----------------------------------------------------------------------------------------------------- numbers
def write_metrics(run: Path, steps: list[int], returns: list[float]) -> Path:
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("algorithm: dqn\nseed: 0\n")
    rows = [f"{s},{i + 1},{r},{s},{s / 100}" for i, (s, r) in enumerate(zip(steps, returns))]
    (run / "metrics.csv").write_text("step,episode,return,length,wall_s\n" + "\n".join(rows) + "\n")
    return run


def test_smooth_is_a_trailing_mean():
    assert curves.smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert curves.smooth(np.array([1.0, 3.0, 5.0]), 10).tolist() == [1.0, 2.0, 3.0]
    assert curves.smooth(np.array([1.0, 3.0]), 1).tolist() == [1.0, 3.0]


def test_aggregate_mean_and_bands_over_the_common_range(tmp_path):
    a = write_metrics(tmp_path / "a", [0, 10, 20], [0.0, 10.0, 20.0])
    b = write_metrics(tmp_path / "b", [10, 20, 30], [30.0, 30.0, 30.0])
    curve = curves.aggregate([a, b], points=3)
    assert curve.x.tolist() == [10.0, 15.0, 20.0], "only where both runs have data"
    assert curve.mean.tolist() == [20.0, 22.5, 25.0]
    assert curve.low.tolist() == [10.0, 15.0, 20.0] and curve.high.tolist() == [30.0, 30.0, 30.0]
    std = curves.aggregate([a, b], points=3, band="std")
    assert std.low.tolist() == [10.0, 15.0, 20.0] and std.high.tolist() == [30.0, 30.0, 30.0]
    by_time = curves.aggregate([a], x="time")
    assert by_time.x.tolist() == [0.0, 0.1, 0.2]
    assert curves.aggregate([write_metrics(tmp_path / "empty", [], [])]) is None


def test_terminal_chart_shape_and_levels():
    xs = np.arange(8.0)
    text = curves.terminal_chart(xs, xs, width=8, height=2)
    lines = text.splitlines()
    assert len(lines) == 3, "two rows and the x axis"
    top, bottom = (line.split("|", 1)[1] for line in lines[:2])
    assert lines[0].startswith("7 |") and lines[1].startswith("0 |")
    assert bottom[-1] == "█" and top[-1] == "█", "the maximum fills both rows"
    assert bottom[0] == "▁" and top[0] == " ", "the minimum is a sliver"
    assert list(bottom) == sorted(bottom, key=curves.BLOCKS.index), "a rising series rises"
    ascii_text = curves.terminal_chart(xs, xs, width=8, height=2, ascii=True)
    assert ascii_text.isascii() and "@" in ascii_text
    assert "no finished episodes" in curves.terminal_chart(np.array([]), np.array([]))


def test_chart_falls_back_to_ascii_where_blocks_cannot_be_printed(seeds):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert curves.run_chart(seeds[0], stream).isascii()

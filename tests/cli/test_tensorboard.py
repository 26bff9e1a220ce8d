"""`train.tensorboard` / `train --tensorboard`: event files TensorBoard itself reads, with the run's numbers."""

from __future__ import annotations

import sys

import pytest
from clitools import TINY, write_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from neurenix_cli import runs


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})  # 0: keep every event
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_flag_writes_the_runs_scalars(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--run-dir", tmp_path / "run", "--quiet", "--tensorboard")
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    found = scalars(run)
    assert {"episode/return", "episode/length", "train/loss", "eval/mean_return", "time/steps_per_s"} <= set(
        found
    )

    metrics = runs.read_csv(run / "metrics.csv")
    assert [s for s, _ in found["episode/return"]] == [int(r["step"]) for r in metrics]
    assert [v for _, v in found["episode/return"]] == pytest.approx([float(r["return"]) for r in metrics])
    assert [v for _, v in found["episode/length"]] == [int(r["length"]) for r in metrics]
    evals = runs.read_csv(run / "evals.csv")
    assert [s for s, _ in found["eval/mean_return"]] == [int(r["step"]) for r in evals] == [300, 600]
    assert [v for _, v in found["eval/mean_return"]] == pytest.approx(
        [float(r["mean_reward"]) for r in evals]
    )
    updates = runs.read_csv(run / "updates.csv")
    assert [s for s, _ in found["train/loss"]] == [int(r["step"]) for r in updates]
    assert all(v > 0 for _, v in found["time/steps_per_s"])


def test_the_config_key_turns_it_on_and_off(cli, tmp_path):
    config = write_config(tmp_path, {**TINY, "train": {**TINY["train"], "tensorboard": True}})
    assert cli("train", config, "--run-dir", tmp_path / "on", "--quiet").exit_code == 0
    assert scalars(tmp_path / "on")["episode/return"]
    assert (
        cli(
            "train", config, "--run-dir", tmp_path / "off", "--quiet", "--set", "train.tensorboard=false"
        ).exit_code
        == 0
    )
    assert not (tmp_path / "off" / "tensorboard").exists()


def test_missing_writer_is_a_config_error_before_anything_is_written(cli, tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(
        sys.modules, "tensorboardX", None
    )  # what `import tensorboardX` sees when not installed
    result = cli("train", tiny_config, "--runs-root", tmp_path / "runs", "--tensorboard")
    assert result.exit_code == 2
    assert "train.tensorboard" in result.stderr and "pip install 'neurenix[tensorboard]'" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resume_keeps_the_runs_own_setting(cli, tmp_path):
    result = cli("train", "--resume", tmp_path, "--tensorboard")
    assert result.exit_code == 2
    assert "--tensorboard" in result.stderr


def test_a_resumed_run_hides_the_events_after_its_checkpoint(tmp_path):
    """Resuming at step 5 drops the CSV rows after it; TensorBoard must drop the old events after it too."""
    import time

    from neurenix_cli.tensorboard_log import TensorBoardLog

    first = TensorBoardLog(tmp_path)
    for step in range(1, 9):
        first.episode(step, 1.0, step)
    first.close()
    time.sleep(1.1)  # event files are named by the second they were opened in
    resumed = TensorBoardLog(tmp_path, resume_step=5)
    for step in range(6, 8):
        resumed.episode(step, 2.0, step)
    resumed.close()
    assert len(list((tmp_path / "tensorboard").iterdir())) == 2
    assert scalars(tmp_path)["episode/return"] == [
        (1, 1.0),
        (2, 1.0),
        (3, 1.0),
        (4, 1.0),
        (5, 1.0),
        (6, 2.0),
        (7, 2.0),
    ]

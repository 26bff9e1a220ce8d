"""Run-directory building blocks: atomic files, CSV logs that survive crashes and resumes, the lock."""

from __future__ import annotations

import json
import os

import pytest

from neurenix_cli import runs


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "summary.json"
    runs.atomic_write_json(target, {"status": "running"})
    runs.atomic_write_json(target, {"status": "completed", "n": 2})
    assert json.loads(target.read_text()) == {"status": "completed", "n": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    runs.atomic_write_json(target, {"status": "running"})
    with pytest.raises(TypeError):
        runs.atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_csv_log_header_from_first_row_and_appends_on_reopen(tmp_path):
    path = tmp_path / "updates.csv"
    log = runs.CsvLog(path)
    log.write({"step": 10, "loss": 0.5})
    assert path.read_text() == "step,loss\n10,0.5\n", "each row is on disk as soon as it is written"
    log.write({"step": 20, "loss": 0.25, "extra": 1})  # a later column does not shift the layout
    log.close()
    again = runs.CsvLog(path)
    again.write({"step": 30, "loss": 0.125})
    again.close()
    assert path.read_text() == "step,loss\n10,0.5\n20,0.25\n30,0.125\n"


def test_torn_last_line_is_skipped_and_truncation_drops_later_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,episode\n5,1\n9,2\n14,3\n2")  # a crash mid-row
    assert [r["step"] for r in runs.read_csv(path)] == ["5", "9", "14"]
    runs.truncate_csv_after(path, 9)
    assert path.read_text() == "step,episode\n5,1\n9,2\n"


def test_run_lock_excludes_a_second_holder_and_records_the_pid(tmp_path):
    with runs.RunLock(tmp_path) as lock:
        assert lock.owner() == os.getpid()
        with pytest.raises(runs.RunDirError, match=f"locked by process {os.getpid()}"):
            runs.RunLock(tmp_path).acquire()
    assert not (tmp_path / runs.LOCK_NAME).exists()
    runs.RunLock(tmp_path).acquire().release()  # free again


def test_checkpoint_saves_swap_in_place_and_a_crash_mid_swap_falls_back_to_the_previous_copy(tmp_path):
    from neurenix.rl import DQN

    final = tmp_path / "last"
    agent = DQN({"type": "box", "shape": (4,)}, {"type": "discrete", "n": 2}, hidden_dims=[8], seed=0)
    for steps in (1, 2):
        agent.total_steps = steps
        runs.save_checkpoint(agent, final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    os.rename(final, tmp_path / "last.previous")  # as if killed between the two renames
    assert runs.resolve_checkpoint(final) == tmp_path / "last.previous"
    assert runs.resolve_checkpoint(tmp_path / "best") is None


def test_slug_keeps_names_file_safe():
    assert runs.slug("ALE/Pong-v5") == "ALE-Pong-v5"
    assert runs.slug("CartPole-v1") == "CartPole-v1"

"""`neurenix eval RUN_DIR --video DIR`: recorded episodes when the [video] extra is installed, and clear errors
(exit 2) when it is not or the env draws no frames."""

from __future__ import annotations

import json
import sys

import gymnasium
import numpy as np
import pytest

from neurenix_cli import video


def test_records_one_episode(cli, trained_run, tmp_path):
    out = tmp_path / "videos"
    result = cli("eval", trained_run, "--episodes", "1", "--video", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["videos"] == [str(out / "eval-episode-0.mp4")]
    assert sorted(p.name for p in out.iterdir()) == ["eval-episode-0.mp4"], "no one-frame leftover video"
    mp4 = (out / "eval-episode-0.mp4").read_bytes()
    assert len(mp4) > 1000 and mp4[4:8] == b"ftyp", "an MP4 container"
    assert json.loads((trained_run / "eval.json").read_text())["videos"] == data["videos"]


@pytest.mark.parametrize("package", ["moviepy", "pygame"])
def test_a_missing_package_says_how_to_install_it(cli, trained_run, tmp_path, monkeypatch, package):
    """moviepy encodes, pygame draws CartPole's frames: the [video] extra brings both."""
    monkeypatch.setitem(sys.modules, package, None)
    result = cli("eval", trained_run, "--video", tmp_path / "v")
    assert result.exit_code == 2
    assert "pip install 'neurenix[video]'" in result.stderr
    assert "Traceback" not in result.output
    assert not list((tmp_path / "v").glob("*.mp4"))


class _NoFrames(gymnasium.Env):
    metadata = {"render_modes": ["ansi"]}
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


@pytest.mark.filterwarnings("ignore:.*not in the possible render_modes")
def test_an_env_without_rgb_array_frames_is_a_clear_error(tmp_path):
    gymnasium.register("NeurenixNoFrames-v0", entry_point=_NoFrames)
    try:
        with pytest.raises(video.VideoError, match="cannot render rgb_array frames .*render modes: ansi"):
            video.recording_env("NeurenixNoFrames-v0", {}, tmp_path, episodes=1)
    finally:
        del gymnasium.registry["NeurenixNoFrames-v0"]

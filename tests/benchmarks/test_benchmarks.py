"""The benchmarks' own correctness: a figure from `make bench` means something only if both sides compute the same.

`benchmarks/engine.py` times DDPG's update against `HandWrittenDDPG`, and NatureCNN against `NumpyNatureCNN`, and
stops if the two sides disagree, but `make bench` is not run in CI; this runs the same checks, so a change to
either side is caught by `make test`. Its SAC row divides by a matmul floor whose product list must be the step's.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ENGINE_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


@pytest.fixture(scope="module")
def engine():
    spec = importlib.util.spec_from_file_location("benchmarks_engine", ENGINE_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_written_ddpg_step_reaches_the_agents_bits(engine):
    agent = engine.ddpg_agent(steps_per_block=1)
    floor = engine.HandWrittenDDPG(agent)
    assert engine.ddpg_floor_gap(agent, floor) == 0.0
    # Again from the state both reached: Adam's second step and the moved targets are compared too.
    assert engine.ddpg_floor_gap(agent, floor) == 0.0


@pytest.mark.parametrize("attribute, value", [("gamma", 0.97), ("tau", 0.006)])
def test_the_bit_check_sees_a_floor_that_computes_something_else(engine, attribute, value):
    agent = engine.ddpg_agent(steps_per_block=1)
    floor = engine.HandWrittenDDPG(agent)
    setattr(floor, attribute, value)
    assert engine.ddpg_floor_gap(agent, floor) > 0.0


def test_the_numpy_nature_cnn_computes_the_engines_features_and_gradients(engine):
    engine_step, _, gap = engine.nature_cnn_sides(batch=2)
    assert gap() < 1e-5


def test_the_nature_cnn_check_sees_a_floor_that_computes_something_else(engine, monkeypatch):
    """A floor whose col2im drops the input gradients leaves the first two layers without weight gradients."""
    _, _, gap = engine.nature_cnn_sides(batch=2)
    monkeypatch.setattr(
        engine.NumpyNatureCNN, "_col2im", staticmethod(lambda cols, shape, *_: np.zeros(shape, cols.dtype))
    )
    assert gap() > 1e-2


def test_the_sac_floor_counts_the_products_the_agent_multiplies(engine, monkeypatch):
    """The floor's textbook list against the multiply-adds our SAC update hands to np.matmul (its first update:
    no dead units yet). A pass left out or counted twice moves the total by >= 6%."""
    agent = engine.sac_agent(steps_per_block=1)
    macs = []
    real = np.matmul

    def counting(a, b, *args, **kwargs):
        stacked = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))
        macs.append(stacked * a.shape[-2] * a.shape[-1] * b.shape[-1])
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", counting)
    agent.update()
    monkeypatch.undo()
    textbook = sum(m * k * n for m, k, n in engine.sac_step_matmuls(3, 1, (256, 256), 256))
    assert abs(sum(macs) - textbook) / textbook < 0.01


def test_speed_stops_before_timing_when_a_peer_cannot_build_its_tasks(tmp_path):
    """The project's own interpreter has no SB3: speed.py must say so at once, not after our side of a row has
    trained (a missing OpenCV once cost a 7-minute Pong run)."""
    speed = ENGINE_PY.parent / "speed.py"
    out = tmp_path / "speed.json"
    command = [sys.executable, str(speed), "--only", "PPO CartPole", "--seeds", "0", "--json", str(out)]
    proc = subprocess.run(
        [*command, "--sb3-python", sys.executable], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "cannot build every task for SB3" in proc.stderr and "stable_baselines3" in proc.stderr
    assert "ours s" not in proc.stdout and not out.exists()  # nothing was trained or written

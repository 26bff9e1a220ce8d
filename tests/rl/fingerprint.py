"""A fingerprint of every algorithm's training: its parameters and optimizer state after a short run with the
shipped config's hyperparameters, as a hash of the bits and as the sum of its weight matrices' magnitudes.

A refactoring that changes no behaviour leaves the hash as it was. The hash depends on the BLAS kernels of the
machine (OpenBLAS picks them by processor, or as OPENBLAS_CORETYPE says), so fingerprints are kept per kernel
family; the sum agrees across kernels to within a percent after these few hundred gradient steps (a single
small layer's, or the optimizers' signed first moments, need not) and is checked everywhere.

Run as a script to print the current fingerprints: `python tests/rl/fingerprint.py`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from threadpoolctl import threadpool_info

from neurenix.checkpoint import flatten_state
from neurenix.rl import make_env
from neurenix.rl.registry import get

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# The shipped config of each algorithm, and the env steps of its fingerprint run: enough for a few hundred
# gradient steps after a warm-up of 100 steps (a whole PPO/A2C rollout or more for the on-policy ones).
RUNS = {
    "dqn": ("dqn_cartpole.yaml", 1500),
    "a2c": ("a2c_cartpole.yaml", 1500),
    "ppo": ("ppo_cartpole.yaml", 2048),
    "ppo_pendulum": ("ppo_pendulum.yaml", 4096),
    "ddpg": ("ddpg_pendulum.yaml", 400),
    "td3": ("td3_pendulum.yaml", 400),
    "sac": ("sac_pendulum.yaml", 300),
}


def kernel_family() -> str:
    """The OpenBLAS kernel family in use (e.g. Haswell, SkylakeX, Zen), or the BLAS's name."""
    for library in threadpool_info():
        if library.get("user_api") == "blas":
            return f"{library.get('internal_api')}:{library.get('architecture')}"
    return "none"


def fingerprint(run: str) -> dict:
    """Train the run's algorithm briefly from its shipped config; hash and sum the resulting state."""
    config_name, steps = RUNS[run]
    config = yaml.safe_load((CONFIGS / config_name).read_text())
    hyperparameters = dict(config["agent"])
    if "learning_starts" in hyperparameters:
        hyperparameters["learning_starts"] = 100
    env = make_env(config["env"]["id"], seed=0)
    agent = get(config["algorithm"])(env.observation_space, env.action_space, seed=0, **hyperparameters)
    agent.train(env, total_steps=steps)
    arrays, scalars = flatten_state(agent.state_dict())
    digest = hashlib.sha256()
    weights_abs_sum = 0.0
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        digest.update(array.tobytes())
        if array.dtype.kind == "f" and array.ndim >= 2 and "optimizer" not in name:
            weights_abs_sum += float(np.abs(array.astype(np.float64)).sum())
    digest.update(json.dumps(scalars, sort_keys=True, default=str).encode())
    return {"sha256": digest.hexdigest(), "weights_abs_sum": weights_abs_sum, "updates": agent.updates}


if __name__ == "__main__":
    runs = sys.argv[1:] or list(RUNS)
    print(json.dumps({"kernels": kernel_family(), **{run: fingerprint(run) for run in runs}}, indent=1))

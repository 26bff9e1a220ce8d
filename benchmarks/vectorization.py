"""env.vectorization: sync against async on an env whose step is slow, DQN and PPO, 2 copies.

    python benchmarks/vectorization.py [--delays-ms 1,2,5] [--steps 4000] [--repeats 3] [--dqn sb3|zoo]
                                       [--json PATH]

The env is written here: a 4-D observation that drifts with the action, episodes of 200 steps, and a busy-wait
of `delay` ms in every step (CPU-bound, as a simulator is; a sleep would let two copies share one core). Each
row trains DQN and PPO (their settings: DQN_AGENTS and AGENTS below) on 2 copies for `--steps` env steps, once
with `VecEnv` (both copies stepped in the trainer) and once with `AsyncVecEnv` (copy 0 in the trainer, copy 1 in a worker process),
alternating, and reports the training loop's own wall time (`train()`'s `wall_time`: the workers' start-up is not in it) as the median over `--repeats`, the
speed-up sync/async, and whether both gave the same episode returns (they must: same seed, same numbers).

The arithmetic behind the ratio: per vectorised step sync pays 2*d (both copies) + T (the trainer's own work:
acting, storing, its share of the updates) and async d + T + m (the slower copy, the trainer, the messages), so
the speed-up is at most (2d + T) / (d + T + m) < 2. The `delay 0` row measures T (sync, the env nearly free);
the `ceiling` column is (2d + T) / (d + T), what async could reach with free messages.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from neurenix.rl.algorithms.dqn import DQN
from neurenix.rl.algorithms.ppo import PPO
from neurenix.rl.async_env import AsyncVecEnv
from neurenix.rl.environment import VecEnv

ROOT = Path(__file__).resolve().parent.parent
EPISODE = 200

# DQN with SB3's default cadence and network (one gradient step every 4 env steps, 64-64), and PPO with
# configs/ppo_cartpole.yaml's agent on 2 copies. The shipped DQN config (128 gradient steps of a 256-256 network
# every 256 env steps, RL Zoo's) costs the trainer several ms per step: `--dqn zoo` measures it, and there the
# env's share, all that async can run in parallel, is too small for a large speed-up at 1 ms.
DQN_AGENTS = {
    "sb3": dict(hidden_dims=[64, 64], learning_starts=1000, train_freq=4, gradient_steps=1, batch_size=64),
    "zoo": dict(
        hidden_dims=[256, 256],
        learning_rate=0.0023,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        update_target_every=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        epsilon_end=0.04,
    ),
}
AGENTS = {
    "DQN": (DQN, DQN_AGENTS["sb3"]),
    "PPO": (
        PPO,
        dict(
            actor_hidden_dims=[64, 64],
            critic_hidden_dims=[64, 64],
            actor_learning_rate=0.001,
            critic_learning_rate=0.001,
            gamma=0.98,
            gae_lambda=0.8,
            n_steps=32,
            batch_size=64,
            n_envs=2,
        ),
    ),
}


class SlowEnv(gym.Env):
    """A drifting point whose step burns `delay_ms` of CPU; reward 1 while |x| < 1."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay_ms: float) -> None:
        self.delay_s = delay_ms / 1000.0
        self.state = np.zeros(4, dtype=np.float32)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-0.05, 0.05, 4).astype(np.float32)
        self.t = 0
        return self.state.copy(), {}

    def step(self, action):
        end = time.perf_counter() + self.delay_s
        while time.perf_counter() < end:  # busy: a CPU-bound simulator, not a sleep
            pass
        push = 0.02 if action == 1 else -0.02
        self.state = (self.state * 0.99 + push + self.np_random.normal(0, 0.01, 4)).astype(np.float32)
        self.t += 1
        reward = float(abs(self.state[0]) < 1.0)
        return self.state.copy(), reward, bool(abs(self.state[0]) > 2.0), self.t >= EPISODE, {}


def run(algo: str, vectorization: str, delay_ms: float, steps: int, seed: int) -> dict:
    cls, hyperparameters = AGENTS[algo]
    fns = [functools.partial(SlowEnv, delay_ms)] * 2
    vec = VecEnv([fn() for fn in fns], seed=seed) if vectorization == "sync" else AsyncVecEnv(fns, seed=seed)
    try:
        agent = cls(vec.observation_space, vec.action_space, seed=seed, **hyperparameters)
        result = agent.train(vec, total_steps=steps)
    finally:
        vec.close()
    return {"wall_s": result["wall_time"], "returns": result["episode_rewards"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays-ms", default="1,2,5")
    parser.add_argument("--steps", type=int, default=4000, help="env steps per run (both copies)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dqn", choices=sorted(DQN_AGENTS), default="sb3", help="DQN's agent (see DQN_AGENTS)"
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vectorization.json"))
    args = parser.parse_args()
    delays = [float(d) for d in args.delays_ms.split(",")]
    AGENTS["DQN"] = (DQN, DQN_AGENTS[args.dqn])

    rows = []
    load_before = os.getloadavg()[0]
    print(
        f"load average {load_before:.2f} (other processes on the cores make async's share of them, and so the"
    )
    print("speed-up, smaller: compare runs at a load near 0)")
    print(
        f"{'algo':5} {'delay':>6} {'sync s':>8} {'async s':>8} {'speed-up':>9} {'ceiling':>8}  same returns"
    )
    for algo in AGENTS:
        trainer = statistics.median(
            run(algo, "sync", 0.0, args.steps, args.seed)["wall_s"] for _ in range(args.repeats)
        )
        t_ms = trainer / (args.steps / 2) * 1000  # per vectorised step of 2 copies
        print(f"{algo:5} {'0 ms':>6} {trainer:8.2f} {'':>8} {'':>9} {'':>8}  T = {t_ms:.3f} ms per step")
        for delay in delays:
            sync, asyn, same = [], [], True
            for _ in range(args.repeats):  # alternating, so that a change in the machine's load hits both
                a = run(algo, "sync", delay, args.steps, args.seed)
                b = run(algo, "async", delay, args.steps, args.seed)
                sync.append(a["wall_s"])
                asyn.append(b["wall_s"])
                same = same and a["returns"] == b["returns"]
            s, y = statistics.median(sync), statistics.median(asyn)
            ceiling = (2 * delay + t_ms) / (delay + t_ms)
            rows.append(
                {
                    "algorithm": algo,
                    "delay_ms": delay,
                    "n_envs": 2,
                    "env_steps": args.steps,
                    "sync_wall_s": round(s, 4),
                    "async_wall_s": round(y, 4),
                    "speedup": round(s / y, 3),
                    "ceiling": round(ceiling, 3),
                    "trainer_ms_per_step": round(t_ms, 4),
                    "same_returns": same,
                    "sync_runs_s": [round(v, 4) for v in sync],
                    "async_runs_s": [round(v, 4) for v in asyn],
                }
            )
            print(f"{algo:5} {delay:4g} ms {s:8.2f} {y:8.2f} {s / y:8.2f}x {ceiling:7.2f}x  {same}")
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    print(f"load average {load['after']:.2f} at the end")
    report = {
        "load_average": load,
        "steps": args.steps,
        "repeats": args.repeats,
        "seed": args.seed,
        "dqn": args.dqn,
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

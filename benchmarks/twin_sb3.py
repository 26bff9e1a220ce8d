"""Our SAC and TD3 updates against SB3's own, update by update: the twin test of tests/rl, with SB3 itself as the twin.

    python benchmarks/twin_sb3.py --sb3-python PATH [--algo sac|td3] [--updates 200] [--hidden 256,256]

Both sides start from our initial weights (copied into SB3's modules) on HalfCheetah's shapes (17-D observations,
6-D actions, batches of 256), see the same pre-drawn minibatches and the same standard normal draws (SB3's
`Normal.rsample` and `Tensor.normal_` are patched to hand them out, its replay buffer's `sample` to return the
batch), and after every update the losses, the temperature and every parameter are compared. Both sides compute
in float32, in different orders, so they part by rounding: a few ulps at first, growing slowly as the
rounding differences feed back through the updates. A difference in the update itself shows at once and by
orders of magnitude more. The report gives, per update, the largest relative parameter difference of each
network and the losses of both sides; `--json` writes it.

Known and deliberate differences: both squashed Gaussians take log(1 - tanh(u)^2 + 1e-6), SB3's with 1 - a^2 in
float32 and ours with sech^2(u), which keeps its digits where tanh saturates; SB3's TD3 reports its critic loss as the sum of the two critics' mean squared errors,
ours (and SB3's SAC, halved) as their mean, so ours is compared doubled. Adam is invariant to that scale (up to
eps), so the parameters are not.

The SB3 interpreter is the one of benchmarks/speed.py (torch and stable-baselines3, never a dependency of
Neurenix). This file runs in both: the driver in ours, `--sb3-side IN OUT` in SB3's, which imports no neurenix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

OBS_DIM, ACTION_DIM, BATCH, BUFFER = 17, 6, 256, 4096
SETTINGS = {
    # RL Zoo's HalfCheetah settings (the shipped configs) for what an update uses.
    "sac": {"learning_rate": 3e-4, "gamma": 0.99, "tau": 0.005, "hidden": [256, 256]},
    "td3": {
        "learning_rate": 1e-3,
        "gamma": 0.99,
        "tau": 0.005,
        "hidden": [400, 300],
        "policy_delay": 2,
        "target_policy_noise": 0.2,
        "target_noise_clip": 0.5,
    },
}


# ------------------------------------------------------------------------------------------------- our side
def our_agent(algo: str, settings: dict):
    from neurenix.rl import SAC, TD3

    spaces = (
        {"type": "box", "shape": (OBS_DIM,), "low": -10.0, "high": 10.0},
        {"type": "box", "shape": (ACTION_DIM,), "low": -1.0, "high": 1.0},
    )
    common = dict(
        seed=0,
        actor_hidden_dims=settings["hidden"],
        critic_hidden_dims=settings["hidden"],
        actor_learning_rate=settings["learning_rate"],
        critic_learning_rate=settings["learning_rate"],
        batch_size=BATCH,
        buffer_size=BUFFER,
        learning_starts=0,
        gamma=settings["gamma"],
        tau=settings["tau"],
    )
    if algo == "sac":
        return SAC(*spaces, alpha=1.0, alpha_learning_rate=settings["learning_rate"], **common)
    return TD3(
        *spaces,
        policy_delay=settings["policy_delay"],
        target_policy_noise=settings["target_policy_noise"],
        target_noise_clip=settings["target_noise_clip"],
        **common,
    )


def sb3_named(agent, algo: str) -> dict[str, np.ndarray]:
    """Our agent's parameters under SB3's module names and in its layouts (Linear weights (out, in))."""
    out = {}

    def linears(prefix: str, module, indices: list[int]) -> None:
        arrays = [p.numpy() for p in module.parameters()]
        for index, w, b in zip(indices, arrays[::2], arrays[1::2]):
            out[f"{prefix}{index}.weight"], out[f"{prefix}{index}.bias"] = w.copy(), b.copy()

    def critics(prefix: str, ensemble) -> None:
        arrays = [p.numpy() for p in ensemble.parameters()]
        for k in range(arrays[0].shape[0]):
            for j, (w, b) in enumerate(zip(arrays[::2], arrays[1::2])):
                out[f"{prefix}qf{k}.{2 * j}.weight"] = w[k].T.copy()
                out[f"{prefix}qf{k}.{2 * j}.bias"] = b[k, 0].copy()

    if algo == "sac":
        trunk = len(list(agent.actor.trunk.parameters())) // 2
        linears("actor.latent_pi.", agent.actor.trunk, [2 * i for i in range(trunk)])
        linears("actor.mu", agent.actor.mean, [""])
        linears("actor.log_std", agent.actor.log_std, [""])
        out["log_ent_coef"] = agent.temperature.log_alpha.numpy().copy()
    else:
        layers = len(list(agent.actor.parameters())) // 2
        linears("actor.mu.", agent.actor, [2 * i for i in range(layers)])
        linears("actor_target.mu.", agent.actor_target, [2 * i for i in range(layers)])
    critics("critic.", agent.critic)
    critics("critic_target.", agent.critic_target)
    return out


class ScriptedNormals:
    """Stands in for `agent.rng` during updates: hands out the pre-drawn standard normal draws, in order."""

    def __init__(self, draws: list[np.ndarray]) -> None:
        self.draws = list(draws)

    def standard_normal(self, size, dtype=np.float64):
        draw = self.draws.pop(0)
        assert tuple(np.atleast_1d(size)) == draw.shape, f"drew {size}, scripted {draw.shape}"
        return draw.astype(dtype)


def inputs(agent, algo: str, updates: int) -> dict[str, np.ndarray]:
    """The minibatches and normal draws of every update, drawn once for both sides."""
    from neurenix.rl.buffers import ReplayBatch

    rng = np.random.default_rng(1)
    obs = rng.normal(size=(BUFFER, OBS_DIM)).astype(np.float32)
    actions = rng.uniform(-1, 1, (BUFFER, ACTION_DIM)).astype(np.float32)
    agent.buffer.add(
        obs,
        actions,
        rng.normal(size=BUFFER).astype(np.float32),
        rng.normal(size=(BUFFER, OBS_DIM)).astype(np.float32),
        (rng.random(BUFFER) < 0.05).astype(np.float32),
    )
    draws_per_update = 2 if algo == "sac" else 1
    index = rng.integers(0, BUFFER, (updates, BATCH))
    b = agent.buffer
    batches = [
        ReplayBatch(b.observations[i], b.actions[i], b.rewards[i], b.next_observations[i], b.terminated[i])
        for i in index
    ]
    return {
        "observations": np.stack([x.observations for x in batches]),
        "actions": np.stack([x.actions for x in batches]),
        "rewards": np.stack([x.rewards for x in batches]),
        "next_observations": np.stack([x.next_observations for x in batches]),
        "terminated": np.stack([x.terminated for x in batches]),
        "normals": rng.standard_normal((updates, draws_per_update, BATCH, ACTION_DIM)).astype(np.float32),
    }


def run_ours(agent, algo: str, data: dict) -> list[dict]:
    from neurenix.rl.buffers import ReplayBatch

    updates = len(data["observations"])
    batches = [
        ReplayBatch(
            *(
                data[key][u]
                for key in ("observations", "actions", "rewards", "next_observations", "terminated")
            )
        )
        for u in range(updates)
    ]
    agent.buffer.sample = lambda batch_size: batches.pop(0)
    agent.rng = ScriptedNormals([draw for update in data["normals"] for draw in update])
    results = []
    for _ in range(updates):
        losses = agent.update()
        if algo == "td3":
            losses["critic_loss"] *= 2.0  # SB3's TD3 sums the two critics' losses
        results.append({"losses": losses, "params": sb3_named(agent, algo)})
    return results


# ------------------------------------------------------------------------------------------------ SB3's side
def sb3_side(inputs_path: str, output_path: str) -> None:
    """Run in SB3's interpreter: the same updates with SB3's SAC or TD3, every result into `output_path`."""
    import gymnasium as gym
    import torch as th
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    th.set_num_threads(1)
    data = dict(np.load(inputs_path, allow_pickle=False))
    meta = json.loads(str(data.pop("meta")))
    algo, settings, updates = meta["algo"], meta["settings"], meta["updates"]

    class Shapes(gym.Env):
        observation_space = gym.spaces.Box(-10.0, 10.0, (OBS_DIM,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

    common = dict(
        learning_rate=settings["learning_rate"],
        buffer_size=BUFFER,
        learning_starts=0,
        batch_size=BATCH,
        tau=settings["tau"],
        gamma=settings["gamma"],
        policy_kwargs={"net_arch": settings["hidden"]},
        device="cpu",
        seed=0,
    )
    if algo == "sac":
        model = SAC("MlpPolicy", Shapes(), **common)
    else:
        model = TD3(
            "MlpPolicy",
            Shapes(),
            policy_delay=settings["policy_delay"],
            target_policy_noise=settings["target_policy_noise"],
            target_noise_clip=settings["target_noise_clip"],
            **common,
        )
    model.set_logger(Logger(folder=None, output_formats=[]))
    modules = {"actor": model.actor, "critic": model.critic, "critic_target": model.critic_target}
    if algo == "td3":
        modules["actor_target"] = model.actor_target

    def named() -> dict[str, np.ndarray]:
        out = {
            f"{m}.{n}": p.detach().numpy().copy()
            for m, mod in modules.items()
            for n, p in mod.named_parameters()
        }
        if algo == "sac":
            out["log_ent_coef"] = model.log_ent_coef.detach().numpy().copy()
        return out

    with th.no_grad():
        for name in named():
            target = model.log_ent_coef if name == "log_ent_coef" else None
            if target is None:
                module, param = name.split(".", 1)
                target = dict(modules[module].named_parameters())[param]
            target.copy_(th.from_numpy(data[f"init/{name}"]))

    draws = [th.from_numpy(d) for update in data["normals"] for d in update]

    def scripted_rsample(self, sample_shape=()):
        return self.loc + draws.pop(0) * self.scale

    th.distributions.Normal.rsample = scripted_rsample

    def scripted_normal_(self, mean=0.0, std=1.0, *, generator=None):
        return self.copy_(draws.pop(0) * std + mean)

    th.Tensor.normal_ = scripted_normal_
    state = {"update": 0}

    def sample(batch_size, env=None):
        u = state["update"]
        column = lambda key: th.from_numpy(data[key][u]).reshape(BATCH, -1)  # noqa: E731
        return ReplayBufferSamples(
            column("observations"),
            column("actions"),
            column("next_observations"),
            column("terminated"),
            column("rewards"),
            None,
        )

    model.replay_buffer.sample = sample
    results = {}
    for u in range(updates):
        state["update"] = u
        model.logger.name_to_value.clear()
        model.train(gradient_steps=1, batch_size=BATCH)
        for key, value in model.logger.name_to_value.items():
            if key.startswith("train/") and key != "train/n_updates":
                results[f"{u}/loss/{key[len('train/') :]}"] = np.asarray(value, dtype=np.float64)
        for name, value in named().items():
            results[f"{u}/param/{name}"] = value
    np.savez(output_path, **results)


# ----------------------------------------------------------------------------------------------- the driver
def compare(algo: str, init: dict, ours: list[dict], sb3: dict) -> list[dict]:
    """Per update and network: |ours - SB3| / |SB3 - initial| over all its parameters (how far apart the two
    trajectories are, relative to how far the parameters have moved), and both sides' losses."""
    rows = []
    for u, mine in enumerate(ours):
        row = {"update": u + 1}
        for network in ("actor", "critic", "critic_target", "actor_target", "log_ent_coef"):
            names = [name for name in mine["params"] if name.split(".")[0] == network]
            if not names:
                continue
            apart = sum(float(np.sum((mine["params"][n] - sb3[f"{u}/param/{n}"]) ** 2)) for n in names)
            moved = sum(float(np.sum((sb3[f"{u}/param/{n}"] - init[f"init/{n}"]) ** 2)) for n in names)
            row[network] = float(np.sqrt(apart / moved)) if moved > 0 else float(np.sqrt(apart))
        for name in ("critic_loss", "actor_loss"):
            if name in mine["losses"] and f"{u}/loss/{name}" in sb3:
                row[name] = (float(mine["losses"][name]), float(sb3[f"{u}/loss/{name}"]))
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sb3-python", help="an interpreter with torch and stable-baselines3")
    parser.add_argument("--algo", choices=sorted(SETTINGS), default="sac")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--hidden", default=None, help="hidden widths, e.g. 256,256 (default: RL Zoo's)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--sb3-side", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sb3_side:
        sb3_side(*args.sb3_side)
        return
    if not args.sb3_python:
        parser.error("--sb3-python is required: an interpreter that can import stable_baselines3")
    settings = dict(SETTINGS[args.algo])
    if args.hidden:
        settings["hidden"] = [int(w) for w in args.hidden.split(",")]
    agent = our_agent(args.algo, settings)
    data = inputs(agent, args.algo, args.updates)
    init = {f"init/{name}": value for name, value in sb3_named(agent, args.algo).items()}
    meta = json.dumps({"algo": args.algo, "settings": settings, "updates": args.updates})
    with tempfile.TemporaryDirectory() as scratch:
        in_path, out_path = Path(scratch) / "in.npz", Path(scratch) / "out.npz"
        np.savez(in_path, meta=np.array(meta), **init, **data)
        subprocess.run([args.sb3_python, __file__, "--sb3-side", str(in_path), str(out_path)], check=True)
        sb3 = dict(np.load(out_path))
    rows = compare(args.algo, init, run_ours(agent, args.algo, data), sb3)
    shown = [r for r in rows if r["update"] in {1, 2, 3, 5, 10} or r["update"] % 50 == 0 or r is rows[-1]]
    for row in shown:
        cells = [f"update {row['update']:4d}"]
        for key, value in row.items():
            if key == "update":
                continue
            if isinstance(value, tuple):
                cells.append(f"{key} {value[0]:.6g} / {value[1]:.6g}")
            else:
                cells.append(f"{key} {value:.2e}")
        print(" | ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

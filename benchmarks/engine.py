"""Microseconds per training iteration of the engine against the same computation written by hand.

    python benchmarks/engine.py [--repeats N] [--torch-python PATH] [--json PATH]

Two kinds of rows, both sides in one process on the same data and the same initial weights; the ratio is
engine / hand-written:
- small MLPs (forward, MSE, backward, Adam) against plain numpy: the framework overhead that small networks
  of classic control pay on every step. Each side's best of --repeats timed runs.
- SB3's NatureCNN (4x84x84 frames, batch 32; forward, mean-square loss, backward) against `NumpyNatureCNN`, the
  textbook numpy im2col (NCHW, rows ordered (C, kh, kw), one product per layer, col2im by slice adds): what
  the engine's layout and fused col2im give over plain numpy. Both sides on every core (ours: its blocks, as
  training's gradient steps run them on an idle machine; numpy: OpenBLAS's threads), one side's rounds after
  the other's; medians.
  With `--torch-python` (an interpreter with SB3 and torch) the row also times SB3's own NatureCNN on torch
  (benchmarks/nature_cnn_torch.py, in its own process after ours): the issue's goal is no slower than torch.
- a DDPG gradient step with RL Zoo's Pendulum networks (400-300, batch 256) against `HandWrittenDDPG`: the same
  products in the same layouts, the same fused loops, preallocated hidden layers and no graph, so the ratio is
  what the engine costs over the floor of these kernels for an arithmetic-bound step. Blocks of 100 steps
  alternate between the sides, so that a slow minute of the host falls on both; the times are medians over the
  blocks and the ratio the median of each round's ratio.
- a SAC gradient step with RL Zoo's Pendulum networks (256-256, batch 256, twin critics) against its matmul
  floor: the textbook step's products (`sac_step_matmuls`, 0.55 GFLOP) each timed alone on the faster of one
  and every BLAS thread, summed. Not a twin written by hand: what the arithmetic costs on this machine with
  nothing between the products. The speed issue's goal is a step within 1.3x of it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from neurenix import Tensor, _accel, configure_runtime, nn, optim
from neurenix.nn import functional as F
from neurenix.rl.algorithms.ddpg import DDPG
from neurenix.rl.algorithms.sac import SAC
from neurenix.rl.returns import td_target

CASES = [
    # name, sizes, activation, batch
    ("mlp 4-64-64-2 tanh, batch 64", (4, 64, 64, 2), "tanh", 64),
    ("mlp 3-256-256-1 relu, batch 256", (3, 256, 256, 1), "relu", 256),
]


class NumpyMLP:
    """The same iteration written directly in numpy: the floor the engine is measured against."""

    def __init__(self, weights, activation, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = [w.copy() for w in weights]
        self.m = [np.zeros_like(w) for w in self.params]
        self.v = [np.zeros_like(w) for w in self.params]
        self.scratch = [np.empty_like(w) for w in self.params]
        self.activation, self.lr, self.betas, self.eps, self.t = activation, lr, betas, eps, 0

    def step(self, x, y):
        p = self.params
        hidden, pre = [x], []
        h = x
        for i in range(0, len(p) - 2, 2):
            z = h @ p[i].T + p[i + 1]
            h = np.tanh(z) if self.activation == "tanh" else np.maximum(z, 0)
            pre.append(z)
            hidden.append(h)
        out = h @ p[-2].T + p[-1]
        diff = out - y
        loss = float(np.mean(diff * diff))
        g = diff * (2.0 / diff.size)
        grads = [None] * len(p)
        for layer in range(len(p) // 2 - 1, -1, -1):
            h = hidden[layer]
            grads[2 * layer] = g.T @ h
            grads[2 * layer + 1] = g.sum(axis=0)
            if layer > 0:
                g = g @ p[2 * layer]
                a = hidden[layer]
                g = g * (1 - a * a) if self.activation == "tanh" else g * (pre[layer - 1] > 0)
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        inv_bias2 = 1.0 / np.sqrt(1 - b2**self.t)
        # In place with one scratch array per parameter: the best plain numpy does without fusing kernels.
        for w, gw, m, v, tmp in zip(p, grads, self.m, self.v, self.scratch):
            m *= b1
            np.multiply(gw, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(gw, gw, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= inv_bias2
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            w -= tmp
        return loss


class HandWrittenDDPG:
    """One DDPG gradient step written out: DDPG.update's arithmetic with nothing but the work.

    The weights start as copies of `agent`'s, in its layouts (the actor's (out, in) like nn.Linear, the critic's
    (in, out)), so the products have the agent's shapes and transposes, and leave out the same second-layer units
    without gradient (`_accel.units_to_keep`); the elementwise passes are the fused loops the engine runs, the hidden
    layers into arrays allocated once. Given the same batch it reaches the agent's
    gradients and parameters to the bit, which `ddpg_floor_gap` checks before anything is timed. It skips only
    the loss values the agent reports (two scalars a step).
    """

    def __init__(self, agent: DDPG) -> None:
        self.gamma, self.tau, self.batch_size = agent.gamma, agent.tau, agent.batch_size
        self.obs_dim = agent.actor[0].in_features
        self.actor = _FlatNetwork([p.numpy() for p in agent.actor.parameters()], agent.actor_optimizer)
        self.actor_target = _FlatNetwork([p.numpy() for p in agent.actor_target.parameters()])
        critic = [p.numpy()[0] for p in agent.critic.parameters()]  # one member: drop the ensemble axis
        self.critic = _FlatNetwork(critic, agent.critic_optimizer)
        self.critic_target = _FlatNetwork([p.numpy()[0] for p in agent.critic_target.parameters()])
        self.actor_hidden, self.actor_grad_hidden = _hidden_arrays(self.batch_size, agent.actor_hidden_dims)
        self.critic_hidden, self.critic_grad_hidden = _hidden_arrays(
            self.batch_size, agent.critic_hidden_dims
        )

    def step(self, obs, actions, rewards, next_obs, terminated) -> None:
        with_next = np.concatenate([next_obs, self._actor(self.actor_target.params, next_obs)], axis=1)
        next_q = self._critic(self.critic_target.params, with_next)[:, 0]
        targets = td_target(rewards, terminated, next_q, self.gamma)

        critic_input = np.concatenate([obs, actions], axis=1)
        q = self._critic(self.critic.params, critic_input)
        grad_q = (q[:, 0] - targets)[:, None] * np.float32(2.0 / len(q))
        self._critic_backward(critic_input, grad_q, self.critic.grads)
        self.critic.adam_step()

        mu = self._actor(self.actor.params, obs)
        actor_input = np.concatenate([obs, mu], axis=1)
        self._critic(self.critic.params, actor_input)
        grad_input = self._critic_backward(
            actor_input, np.full((len(mu), 1), -1.0 / len(mu), np.float32), None
        )
        self._actor_backward(obs, grad_input[:, self.obs_dim :] * (1.0 - mu * mu))
        self.actor.adam_step()

        self.critic_target.lerp_towards(self.critic, self.tau)
        self.actor_target.lerp_towards(self.actor, self.tau)

    def _actor(self, params, obs):
        (w1, b1, w2, b2, w3, b3), (h1, h2) = params, self.actor_hidden
        np.matmul(obs, w1.T, out=h1)
        _accel.loops_for(h1, b1).add_bias_relu(h1, b1, 1, h1.shape[1])
        np.matmul(h1, w2.T, out=h2)
        _accel.loops_for(h2, b2).add_bias_relu(h2, b2, 1, h2.shape[1])
        return np.tanh(h2 @ w3.T + b3)

    def _critic(self, params, inputs):
        (w1, b1, w2, b2, w3, b3), (h1, h2) = params, self.critic_hidden
        np.matmul(inputs, w1, out=h1)
        _accel.loops_for(h1, b1).add_bias_relu(h1, b1, 1, h1.shape[1])
        np.matmul(h1, w2, out=h2)
        _accel.loops_for(h2, b2).add_bias_relu(h2, b2, 1, h2.shape[1])
        return h2 @ w3 + b3

    def _critic_backward(self, inputs, grad_q, grads):
        """The critic's own step passes its weights' `grads` to fill; the actor's step passes None, as the engine
        freezes the critic there, and gets the gradient w.r.t. the inputs instead."""
        (_, _, w2, _, w3, _), (h1, h2) = self.critic.params, self.critic_hidden
        g1, g2 = self.critic_grad_hidden
        bias = (None, None) if grads is None else (grads[1], grads[3])
        if grads is not None:
            np.matmul(h2.T, grad_q, out=grads[4])
            grads[5][...] = grad_q.sum(axis=0)
        through_head = grad_q * w3.T
        activity = np.empty((1, h2.shape[1]), np.float32)
        _accel.loops_for(through_head, h2, g2, bias[1]).relu_backward(
            through_head, h2, g2, bias[1], activity, 1, h2.shape[1]
        )
        live = _accel.units_to_keep(activity[0], g2.shape[0], h1.shape[1], "in_out")
        if live is None:
            if grads is not None:
                np.matmul(h1.T, g2, out=grads[2])
            through_hidden = g2 @ w2.T
        else:  # the engine's skipping of units without gradient, written out (see _accel.units_to_keep)
            kept = g2[:, live]
            if grads is not None:
                _accel.put_columns(h1.T @ kept, live, grads[2])
            through_hidden = kept @ w2[:, live].T
        _accel.loops_for(through_hidden, h1, g1, bias[0]).relu_backward(
            through_hidden, h1, g1, bias[0], None, 1, h1.shape[1]
        )
        if grads is not None:
            np.matmul(inputs.T, g1, out=grads[0])
            return None
        return g1 @ self.critic.params[0].T

    def _actor_backward(self, obs, grad_pre_tanh) -> None:
        (_, _, w2, _, w3, _), grads = self.actor.params, self.actor.grads
        (h1, h2), (g1, g2) = self.actor_hidden, self.actor_grad_hidden
        np.matmul(grad_pre_tanh.T, h2, out=grads[4])
        grads[5][...] = grad_pre_tanh.sum(axis=0)
        through_head = grad_pre_tanh * w3
        activity = np.empty((1, h2.shape[1]), np.float32)
        _accel.loops_for(through_head, h2, g2, grads[3]).relu_backward(
            through_head, h2, g2, grads[3], activity, 1, h2.shape[1]
        )
        live = _accel.units_to_keep(activity[0], g2.shape[0], h1.shape[1], "out_in")
        if live is None:
            np.matmul(g2.T, h1, out=grads[2])
            through_hidden = g2 @ w2
        else:
            kept = g2[:, live]
            grads[2].fill(0)
            grads[2][live] = kept.T @ h1
            through_hidden = kept @ w2[live]
        _accel.loops_for(through_hidden, h1, g1, grads[1]).relu_backward(
            through_hidden, h1, g1, grads[1], None, 1, h1.shape[1]
        )
        np.matmul(g1.T, obs, out=grads[0])


class _FlatNetwork:
    """A network's parameters (and, with an optimizer to copy the settings of, gradients and Adam's sums) as
    views into one array each, like the engine's optimizers keep them: Adam and Polyak are one pass each."""

    def __init__(self, arrays, optimizer=None) -> None:
        self.data, self.params = _flat_copy(arrays)
        if optimizer is None:
            return
        self.grad, self.grads = _flat_copy([np.zeros_like(a) for a in arrays])
        self.grad_sum, self.grad_sq_sum = np.zeros_like(self.data), np.zeros_like(self.data)
        self.lr, (self.beta1, self.beta2), self.eps = optimizer.lr, optimizer.betas, optimizer.eps
        self.t = 0

    def adam_step(self) -> None:
        """Adam in the engine's form (see neurenix/optim/rules.py): sums instead of averages, one fused loop."""
        self.t += 1
        c = math.sqrt((1.0 - self.beta2**self.t) / (1.0 - self.beta2))
        step = self.lr * (1.0 - self.beta1) * c / (1.0 - self.beta1**self.t)
        loops = _accel.loops_for(self.data, self.grad, self.grad_sum, self.grad_sq_sum)
        loops.adam_step(
            self.data, self.grad, self.grad_sum, self.grad_sq_sum, self.beta1, self.beta2, self.eps * c, step
        )

    def lerp_towards(self, online: _FlatNetwork, tau: float) -> None:
        _accel.loops_for(self.data, online.data).lerp(self.data, online.data, 1.0 - tau, tau)


def _hidden_arrays(rows, widths):
    """Two hidden layers' activations and their gradients, allocated once."""
    return tuple(tuple(np.empty((rows, width), np.float32) for width in widths) for _ in range(2))


def _flat_copy(arrays):
    flat = np.concatenate([a.reshape(-1) for a in arrays]).astype(np.float32)
    views, offset = [], 0
    for a in arrays:
        views.append(flat[offset : offset + a.size].reshape(a.shape))
        offset += a.size
    return flat, views


def time_per_iteration(step, iterations, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6


def bench_case(sizes, activation, batch, repeats):
    rng = np.random.default_rng(0)
    net = nn.mlp(sizes, activation=activation, rng=rng)
    reference = NumpyMLP([p.numpy() for p in net.parameters()], activation)
    opt = optim.Adam(net.parameters(), lr=1e-3)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.standard_normal((batch, sizes[-1])).astype(np.float32)
    xt, yt = Tensor(x), Tensor(y)

    def engine_step():
        opt.zero_grad()
        loss = F.mse_loss(net(xt), yt)
        loss.backward()
        opt.step()

    iterations = 2000 if sizes[1] <= 64 else 300
    for _ in range(50):  # warm caches and BLAS
        engine_step()
        reference.step(x, y)
    engine_us = time_per_iteration(engine_step, iterations, repeats)
    numpy_us = time_per_iteration(lambda: reference.step(x, y), iterations, repeats)
    return engine_us, numpy_us


NATURE_CNN = ((4, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1))  # in, out, kernel, stride


def nature_cnn(seed: int = 0) -> nn.Sequential:
    """SB3's NatureCNN (Mnih et al. 2015) on 4 stacked 84x84 frames, up to its 512 features."""
    rng = np.random.default_rng(seed)
    layers = []
    for in_channels, out_channels, kernel, stride in NATURE_CNN:
        layers += [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, rng=rng), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 7 * 7, 512, rng=rng), nn.ReLU())


class NumpyNatureCNN:
    """NatureCNN's forward and backward of mean(features^2) in plain numpy, im2col as textbooks write it."""

    def __init__(self, weights) -> None:
        self.params = weights

    @staticmethod
    def _im2col(x, kernel, stride):
        windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))
        windows = windows[:, :, ::stride, ::stride]
        n, c, oh, ow = windows.shape[:4]
        return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kernel * kernel), oh, ow

    @staticmethod
    def _col2im(cols, shape, kernel, stride, oh, ow):
        grad = np.zeros(shape, cols.dtype)
        blocks = cols.reshape(shape[0], oh, ow, shape[1], kernel, kernel)
        for i in range(kernel):
            for j in range(kernel):
                grad[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += blocks[
                    ..., i, j
                ].transpose(0, 3, 1, 2)
        return grad

    def step(self, x):
        """The features and the parameters' gradients, in `nn.Sequential.parameters()` order."""
        p, h, saved = self.params, x, []
        for layer, (_, out_channels, kernel, stride) in enumerate(NATURE_CNN):
            cols, oh, ow = self._im2col(h, kernel, stride)
            rows = np.maximum(cols @ p[2 * layer].reshape(out_channels, -1).T + p[2 * layer + 1], 0)
            saved.append((h.shape, cols, rows, oh, ow))
            h = np.ascontiguousarray(rows.reshape(len(x), oh, ow, out_channels).transpose(0, 3, 1, 2))
        flat = h.reshape(len(x), -1)
        features = np.maximum(flat @ p[6].T + p[7], 0)
        g = features * (2.0 / features.size) * (features > 0)
        grads = [None] * 6 + [g.T @ flat, g.sum(axis=0)]
        g = (g @ p[6]).reshape(h.shape).transpose(0, 2, 3, 1).reshape(-1, 64)
        for layer in reversed(range(len(NATURE_CNN))):
            shape, cols, rows, oh, ow = saved[layer]
            w = p[2 * layer]
            g = g * (rows > 0)
            grads[2 * layer], grads[2 * layer + 1] = (g.T @ cols).reshape(w.shape), g.sum(axis=0)
            if layer:
                grad_x = self._col2im(g @ w.reshape(len(w), -1), shape, *NATURE_CNN[layer][2:], oh, ow)
                g = grad_x.transpose(0, 2, 3, 1).reshape(-1, shape[1])
        return features, grads


def nature_cnn_sides(batch: int = 32):
    """The engine's step and the numpy one on the same frames and weights, and a check that they agree."""
    net = nature_cnn()
    opt = optim.Adam(net.parameters(), lr=1e-4)
    floor = NumpyNatureCNN([p.numpy() for p in net.parameters()])
    frames = np.random.default_rng(1).uniform(0.0, 1.0, (batch, 4, 84, 84)).astype(np.float32)

    def engine_step():
        opt.zero_grad()
        features = net(frames)
        (features * features).mean().backward()
        return features

    def gap() -> float:
        """The largest difference of the features and gradients between the sides, relative to their scale."""
        features, grads = floor.step(frames)
        ours = [engine_step().numpy()] + [p.grad.numpy() for p in net.parameters()]
        pairs = zip(ours, [features, *grads])
        return max(float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max())) for a, b in pairs)

    return engine_step, lambda: floor.step(frames), gap


def bench_nature_cnn(rounds: int, threads: int) -> tuple[float, float, float]:
    """Milliseconds (medians) of each side's forward and backward on `threads` cores (ours: its blocks on that
    many threads, as a training run's gradient steps pick; numpy's: OpenBLAS's threads), and their ratio.

    One side's rounds, then the other's: OpenBLAS's threads spin for a while after each call, and alternating
    put that spinning on the cores our blocks were computing on (28 ms a step instead of 15)."""
    engine_step, floor_step, gap = nature_cnn_sides()
    if gap() > 1e-4:
        raise SystemExit("NumpyNatureCNN does not compute what the engine does: no figure")
    medians = []
    for switch, step in ((_accel.block_threads, engine_step), (_accel.blas_threads, floor_step)):
        with switch(threads):
            for _ in range(3):  # warm the threads and the allocator
                step()
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                step()
                times.append((time.perf_counter() - start) * 1e3)
        medians.append(statistics.median(times))
    return medians[0], medians[1], medians[0] / medians[1]


def torch_nature_cnn_ms(python: str, rounds: int) -> dict:
    """SB3's NatureCNN step on torch, timed in `python` (benchmarks/nature_cnn_torch.py's JSON line)."""
    script = Path(__file__).with_name("nature_cnn_torch.py")
    out = subprocess.run([python, str(script), "--rounds", str(rounds)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{python} could not time SB3's NatureCNN:\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pendulum_agent(algorithm: type, hidden: list[int], steps_per_block: int, **hyperparameters):
    """An off-policy agent on Pendulum's spaces (3-D observations, one action), batch 256, `hidden` actor and
    critic widths, with a buffer of 10,000 random transitions to sample from."""
    agent = algorithm(
        gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
        actor_hidden_dims=hidden,
        critic_hidden_dims=hidden,
        buffer_size=10000,
        batch_size=256,
        gradient_steps=steps_per_block,
        seed=0,
        **hyperparameters,
    )
    rng, rows = np.random.default_rng(0), agent.buffer.buffer_size
    obs, next_obs = rng.standard_normal((2, rows, 3), dtype=np.float32)
    actions = rng.uniform(-1.0, 1.0, (rows, 1)).astype(np.float32)
    agent.buffer.add(obs, actions, rng.standard_normal(rows, dtype=np.float32), next_obs, np.zeros(rows))
    return agent


def ddpg_agent(steps_per_block: int) -> DDPG:
    """RL Zoo's Pendulum DDPG (actor 3 -> 400-300 -> 1, critic 4 -> 400-300 -> 1, batch 256)."""
    return pendulum_agent(DDPG, [400, 300], steps_per_block, gamma=0.98)


def sac_agent(steps_per_block: int) -> SAC:
    """RL Zoo's Pendulum SAC (256-256, batch 256)."""
    return pendulum_agent(SAC, [256, 256], steps_per_block)


def ddpg_floor_gap(agent: DDPG, floor: HandWrittenDDPG) -> float:
    """The largest difference in gradients and parameters after one step of each on the same batch (0 unless
    one has a bug). Gradients too: Adam's first step is ~lr sign(g), blind to a gradient's scale."""
    batch = agent.buffer.sample(agent.batch_size)
    steps, agent.gradient_steps = agent.gradient_steps, 1
    agent.buffer.sample = lambda batch_size: batch
    try:
        agent.update()
    finally:
        del agent.buffer.sample
        agent.gradient_steps = steps
    floor.step(*batch[:5])  # the transition; no action masks in Pendulum
    pairs = [
        (agent.actor_optimizer.flat.grad, floor.actor.grad),
        (agent.critic_optimizer.flat.grad, floor.critic.grad),
        *(
            (p.numpy(), q)
            for network, hand in (
                (agent.actor, floor.actor),
                (agent.critic, floor.critic),
                (agent.actor_target, floor.actor_target),
                (agent.critic_target, floor.critic_target),
            )
            for p, q in zip(network.parameters(), hand.params, strict=True)
        ),
    ]
    return max(float(np.abs(ours.reshape(-1) - theirs.reshape(-1)).max()) for ours, theirs in pairs)


def bench_ddpg_step(threads: int, rounds: int, steps_per_block: int = 100) -> tuple[float, float, float]:
    """Engine and floor per gradient step (median µs over alternating blocks) and the median of the per-round
    ratios, on `threads` BLAS threads."""
    agent = ddpg_agent(steps_per_block)
    floor = HandWrittenDDPG(agent)

    def floor_block():
        for _ in range(steps_per_block):  # the agent's own sampler: both sides pay the same for their batches
            floor.step(*agent.buffer.sample(agent.batch_size)[:5])

    sides = {"engine": agent.update, "floor": floor_block}
    times: dict[str, list[float]] = {"engine": [], "floor": []}
    with _accel.blas_threads(threads):
        gap = ddpg_floor_gap(agent, floor)
        if gap != 0.0:
            raise AssertionError(
                f"the hand-written DDPG step differs from the agent's by {gap:g}: not the floor"
            )
        for block in sides.values():  # warm caches, BLAS threads and the allocator
            block()
        for round_ in range(rounds):
            for name in sorted(sides, reverse=round_ % 2 == 1):
                start = time.perf_counter()
                sides[name]()
                times[name].append((time.perf_counter() - start) / steps_per_block * 1e6)
    ratio = statistics.median(e / f for e, f in zip(times["engine"], times["floor"]))
    return statistics.median(times["engine"]), statistics.median(times["floor"]), ratio


def sac_step_matmuls(
    obs_dim: int, act_dim: int, hidden: tuple[int, int], batch: int
) -> list[tuple[int, int, int]]:
    """The (m, k, n) products of one textbook SAC gradient step (Haarnoja et al. 2018, SB3's update) with twin
    critics and `hidden`-wide ReLU MLPs: what any implementation must multiply, whatever it fuses.

    Critic loss: the actor on the next observations, both target critics on (s', a'), both critics on (s, a)
    forward and backward (weight gradients of all three layers, input gradients of the upper two). Actor loss:
    the actor on s forward and backward, both critics on (s, a~) forward and back to a~ (input gradients of all
    three layers; their weights get no step)."""
    h1, h2 = hidden
    actor = [(batch, obs_dim, h1), (batch, h1, h2), (batch, h2, 2 * act_dim)]  # mean and log-std heads as one
    critic = [(batch, obs_dim + act_dim, h1), (batch, h1, h2), (batch, h2, 1)]
    critic_input_grads = [(batch, 1, h2), (batch, h2, h1), (batch, h1, obs_dim + act_dim)]
    actor_weight_grads = [(k, batch, n) for _, k, n in actor]
    actor_input_grads = [(batch, 2 * act_dim, h2), (batch, h2, h1)]
    critic_weight_grads = [(k, batch, n) for _, k, n in critic]
    products = actor + 2 * critic  # target: the next action, both target critics
    products += 2 * (critic + critic_weight_grads + critic_input_grads[:2])  # both critics' regression
    products += actor + 2 * (critic + critic_input_grads) + actor_weight_grads + actor_input_grads
    return products


def matmul_floor_us(
    products: list[tuple[int, int, int]], thread_counts: tuple[int, ...], repeats: int
) -> float:
    """The sum over `products` of each one's fastest time (µs) on the best of `thread_counts` BLAS threads: what
    the step's arithmetic alone costs here, with nothing between the products."""
    rng = np.random.default_rng(0)
    total = 0.0
    for m, k, n in products:
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        best = math.inf
        for threads in thread_counts:
            with _accel.blas_threads(threads):
                for _ in range(repeats):
                    start = time.perf_counter()
                    for _ in range(20):
                        np.matmul(a, b, out=out)
                    best = min(best, (time.perf_counter() - start) / 20)
        total += best * 1e6
    return total


def bench_sac_step(repeats: int, steps_per_block: int = 100) -> list[dict]:
    """RL Zoo's SAC on Pendulum (256-256, batch 256) per gradient step on each thread count training may pick,
    against the matmul floor of its products on both cores (issue 27's goal: within 1.3x)."""
    agent = sac_agent(steps_per_block)
    cores = _accel.available_cores()
    floor_us = matmul_floor_us(sac_step_matmuls(3, 1, (256, 256), 256), (1, cores), repeats)
    products = _accel.gradient_matmuls([agent.actor, agent.critic], agent.batch_size)
    rows_out = []
    for threads in _accel.training_blas_threads(products):
        with _accel.blas_threads(threads):
            agent.update()  # warm caches, threads and the allocator
            times = []
            for _ in range(4 * repeats):
                start = time.perf_counter()
                agent.update()
                times.append((time.perf_counter() - start) / steps_per_block * 1e6)
        engine_us = statistics.median(times)
        rows_out.append(
            {
                "case": f"sac step 256-256, batch 256, {threads} thr",
                "engine_us": engine_us,
                "matmul_floor_us": floor_us,
                "ratio": engine_us / floor_us,
            }
        )
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=str, default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--torch-python", default=None, help="an interpreter with SB3 and torch, for the CNN row"
    )
    args = parser.parse_args()
    configure_runtime()  # what a training run sets: both sides run with its threads and allocator
    rows = []
    print(f"{'case':36s} {'engine µs':>10s} {'by hand µs':>10s} {'ratio':>6s}")
    for name, sizes, activation, batch in CASES:
        engine_us, numpy_us = bench_case(sizes, activation, batch, args.repeats)
        rows.append(
            {"case": name, "engine_us": engine_us, "hand_us": numpy_us, "ratio": engine_us / numpy_us}
        )
        print(f"{name:36s} {engine_us:10.1f} {numpy_us:10.1f} {engine_us / numpy_us:6.2f}")
    cores = _accel.available_cores()
    name = f"nature cnn 4x84x84, b32, {cores} thr (ms)"
    engine_ms, floor_ms, ratio = bench_nature_cnn(rounds=4 * args.repeats, threads=cores)
    row = {"case": name, "engine_ms": engine_ms, "hand_ms": floor_ms, "ratio": ratio, "threads": cores}
    rows.append(row)
    print(f"{name:36s} {engine_ms:10.2f} {floor_ms:10.2f} {ratio:6.2f}")
    if args.torch_python:
        torch_side = torch_nature_cnn_ms(args.torch_python, rounds=4 * args.repeats)
        row.update(torch_ms=torch_side["torch_ms"], torch_threads=torch_side["threads"])
        row["torch_ratio"] = engine_ms / torch_side["torch_ms"]
        label = f"  same on torch ({torch_side['threads']} thr), ours/torch"
        print(f"{label:36s} {engine_ms:10.2f} {torch_side['torch_ms']:10.2f} {row['torch_ratio']:6.2f}")
    agent = ddpg_agent(1)
    agent_products = _accel.gradient_matmuls([agent.actor, agent.critic], agent.batch_size)
    for threads in _accel.training_blas_threads(agent_products):
        name = f"ddpg step 400-300, batch 256, {threads} thr"
        engine_us, floor_us, ratio = bench_ddpg_step(threads, rounds=4 * args.repeats)
        rows.append({"case": name, "engine_us": engine_us, "hand_us": floor_us, "ratio": ratio})
        print(f"{name:36s} {engine_us:10.1f} {floor_us:10.1f} {ratio:6.2f}")
    print(
        f"{'case':36s} {'engine µs':>10s} {'floor µs':>10s} {'ratio':>6s}  (floor: its products alone, both cores)"
    )
    for row in bench_sac_step(args.repeats):
        rows.append(row)
        print(
            f"{row['case']:36s} {row['engine_us']:10.1f} {row['matmul_floor_us']:10.1f} {row['ratio']:6.2f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()

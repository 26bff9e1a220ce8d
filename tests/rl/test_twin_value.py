"""DQN's update (plain, Double, Dueling), proven update by update against the float64 reference in
`reference/dqn.py`.

Both get the same initial weights and the same pre-drawn minibatches (our buffer's `sample` is intercepted), and
after every update the loss, the Adam moments (ours keeps discounted sums: times (1 - beta) they must be torch's
m and v), the online and the target weights must agree. Tolerance: our float32 against float64; after six
Adam steps the largest drift seen is ~3e-8 absolute (float32 rounding), so rtol 1e-5 / atol 1e-7 leaves ~10x
room, while any real difference in the update moves some weight by ~lr = 3e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference.dqn import dqn_step
from reference.nets import Adam, assert_twins, f64

from neurenix.rl import DQN
from neurenix.rl.buffers import ReplayBatch

OBS_DIM, N_ACTIONS, BATCH = 4, 3, 32
RTOL, ATOL = 1e-5, 1e-7


def draw_batches(rng: np.random.Generator, gradient_steps: int) -> ReplayBatch:
    """Minibatches with a leading gradient-step axis, as `ReplayBuffer.sample(..., batches=n)` returns them;
    rewards large enough to reach Huber's linear part and the gradient clip."""
    shape = (gradient_steps, BATCH)
    return ReplayBatch(
        rng.standard_normal((*shape, OBS_DIM)).astype(np.float32),
        rng.integers(0, N_ACTIONS, size=shape).astype(np.int64),
        (3.0 * rng.standard_normal(shape)).astype(np.float32),
        rng.standard_normal((*shape, OBS_DIM)).astype(np.float32),
        (rng.random(shape) < 0.3).astype(np.float32),
    )


@pytest.mark.parametrize(
    "double_q, loss, gradient_steps, max_grad_norm, dueling",
    [
        (False, "huber", 1, 10.0, False),
        (True, "mse", 2, 1.0, False),
        (False, "mse", 2, None, False),
        (True, "huber", 1, 0.5, False),
        (False, "huber", 2, 1.0, True),
        (True, "mse", 1, None, True),
    ],
)
def test_dqn_updates_match_the_reference(double_q, loss, gradient_steps, max_grad_norm, dueling):
    agent = DQN(
        {"type": "box", "shape": (OBS_DIM,)},
        {"type": "discrete", "n": N_ACTIONS},
        hidden_dims=(16, 16),
        batch_size=BATCH,
        gradient_steps=gradient_steps,
        double_q=double_q,
        dueling=dueling,
        loss=loss,
        max_grad_norm=max_grad_norm,
        learning_rate=3e-3,
        gamma=0.9,
        update_target_every=1,
        seed=3,
    )
    params = f64(p.numpy() for p in agent.q_network.parameters())
    target = [p.copy() for p in params]
    adam = Adam(params, lr=3e-3)
    rng = np.random.default_rng(7)
    beta1, beta2 = agent.optimizer.betas
    for update in range(6):
        batches = draw_batches(rng, gradient_steps)
        agent.buffer.sample = lambda batch_size, batches_=None, b=batches, **_: b
        ours = agent.update()
        losses = [
            dqn_step(
                params,
                target,
                tuple(field[i] for field in batches if field is not None),  # no action masks here
                adam,
                gamma=0.9,
                double_q=double_q,
                loss=loss,
                max_grad_norm=max_grad_norm,
                dueling=dueling,
            )
            for i in range(gradient_steps)
        ]
        state = agent.optimizer.state_dict()
        assert_twins(
            update,
            [
                ("loss", ours["loss"], np.mean(losses)),
                ("Adam m", state["grad_sum"] * (1 - beta1), np.concatenate([m.ravel() for m in adam.m])),
                ("Adam v", state["grad_sq_sum"] * (1 - beta2), np.concatenate([v.ravel() for v in adam.v])),
                *(
                    (f"q_network.{name}", p.numpy(), ref)
                    for (name, p), ref in zip(agent.q_network.named_parameters(), params)
                ),
                *(
                    (f"target_network.{name}", p.numpy(), ref)
                    for (name, p), ref in zip(agent.target_network.named_parameters(), target)
                ),
            ],
            RTOL,
            ATOL,
        )
        # The loop's own step hook refreshes the target every other update (update_target_every=1 env step).
        agent.updates += 1
        if update % 2 == 1:
            agent.total_steps += 1
            agent._on_env_step(1)
            target = [p.copy() for p in params]

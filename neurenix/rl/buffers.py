"""Replay and rollout storage: preallocated arrays (float32 unless integer actions), served as named tuples.

Observations are stored as the env gives them, one preallocated array per key of a Dict or Tuple space in that
key's own dtype (int64 goal ids, uint8 bytes), and encoded by the agent's `ObservationFrontEnd` when a batch is
served: a batch's `observations` are network inputs (B, input_dim). For a 1-D float32 box that is the stored rows
themselves.

With normalisation on (off-policy agents), the replay buffer still stores raw observations and rewards: it is
given the agent's statistics and normalises each batch as it serves it, before encoding (SB3's
`ReplayBuffer._get_samples` with a VecNormalize), so every transition is read on the current scale.

With `optimize_memory_usage` (SB3's option), next observations are not stored beside the observations: a
transition's next observation is the row the same env's next step fills, `n_envs` rows on. Where an episode
ended, that row holds the new episode's first observation instead; `add` sees the difference when it overwrites
the row and keeps the true last observation aside (one per episode), so a truncated transition still bootstraps
from it, which SB3's buffer cannot do (it refuses timeout handling with the option). The rows the newest
transitions' next observations sit in are not sampled. With `frame_stack` N > 1 (frame-stacked image
observations: the last N frames on the first axis), that store keeps each frame once (`frames.StackedFrames`).

Invalid-action masks, when the env has them, get preallocated arrays of bools too: a rollout keeps each
observation's mask (the masked distribution's log-probability needs it at every epoch), the replay buffer each
next observation's (DQN's max over next actions must not take a forbidden one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from neurenix.errors import ConfigError
from neurenix.rl.frames import StackedFrames
from neurenix.rl.observations import ObservationFrontEnd, leaves, map_batch, put, take
from neurenix.rl.returns import gae


def as_front_end(observations: ObservationFrontEnd | tuple[int, ...]) -> ObservationFrontEnd:
    """A front-end, or a shape standing for an unbounded float32 box of that shape."""
    if isinstance(observations, ObservationFrontEnd):
        return observations
    return ObservationFrontEnd(gym.spaces.Box(-np.inf, np.inf, tuple(observations), np.float32))


class ReplayBatch(NamedTuple):
    observations: np.ndarray  # (B, input_dim) network inputs
    actions: np.ndarray  # (B,) int64 for discrete, (B, *action_shape) float32 for boxes
    rewards: np.ndarray  # (B,)
    next_observations: np.ndarray  # (B, input_dim): the true next state, also at a truncation
    terminated: np.ndarray  # (B,) 1.0 where the episode truly ended: no bootstrap there
    next_action_masks: np.ndarray | None = None  # (B, n_actions) bools of the next state; None without masks


class ReplayBuffer:
    """A ring of the last `buffer_size` transitions.

    Only termination is stored: a truncated transition keeps its real next observation, so a one-step TD target
    bootstraps through it correctly and needs nothing else.

    `obs_normalizer` (a raw batch -> the batch normalised, `normalize.BoxObservationNormalizer`) and
    `reward_scaler` (rewards -> scaled, `normalize.RewardScaler`) are applied to each served batch, with the
    statistics as they are then; what is stored stays raw. `optimize_memory_usage`: see the module docstring;
    every `add` must then bring the same number of rows (one per env). `frame_stack` > 1 (one image Box whose
    first axis holds that many frames) stores each frame once, in place like optimize_memory_usage.
    """

    def __init__(
        self,
        buffer_size: int,
        observations: ObservationFrontEnd | tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        discrete_actions: bool = True,
        rng: np.random.Generator | None = None,
        obs_normalizer: Callable[[Any], Any] | None = None,
        reward_scaler: Callable[[np.ndarray], np.ndarray] | None = None,
        optimize_memory_usage: bool = False,
        frame_stack: int = 1,
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        self.buffer_size = int(buffer_size)
        self.front_end = as_front_end(observations)
        self.frame_stack = int(frame_stack)
        if self.frame_stack > 1:
            template = self.front_end.empty((0,))
            if (
                not isinstance(template, np.ndarray)
                or template.ndim < 3
                or template.shape[1] != self.frame_stack
            ):
                raise ConfigError(
                    f"frame_stack={self.frame_stack} needs one Box observation whose first axis holds "
                    f"{self.frame_stack} frames (gymnasium's FrameStackObservation of that stack_size), got "
                    f"{self.front_end.space}; set frame_stack to the env's stack size, or to 1",
                    key="frame_stack",
                )
            self.observations: Any = StackedFrames(buffer_size, template.shape[1:], template.dtype)
        else:
            self.observations = self.front_end.empty((buffer_size,))
        optimize_memory_usage = bool(optimize_memory_usage) or self.frame_stack > 1
        self.optimize_memory_usage = optimize_memory_usage
        self.next_observations: Any = None if optimize_memory_usage else self.front_end.empty((buffer_size,))
        # With optimize_memory_usage: rows per add, the last add's rows, and the true last observation of each
        # row whose episode ended (its next row holds the next episode's first observation).
        self._rows_per_add = 0
        self._last_rows: np.ndarray | None = None
        self._last_observations: dict[int, Any] = {}
        self._ended = np.zeros(buffer_size if optimize_memory_usage else 0, dtype=bool)  # rows in that dict
        self.actions = np.zeros(
            (buffer_size, *action_shape), dtype=np.int64 if discrete_actions else np.float32
        )
        self.rewards = np.zeros(buffer_size, dtype=np.float32)
        self.terminated = np.zeros(buffer_size, dtype=np.float32)
        self.next_action_masks: np.ndarray | None = None
        self.position = 0
        self.size = 0
        self.rng = rng if rng is not None else np.random.default_rng()
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler

    def store_action_masks(self, n_actions: int) -> None:
        """Keep each next state's invalid-action mask from now on. Transitions stored before had none: they
        count as allowing every action."""
        if self.next_action_masks is None or self.next_action_masks.shape[1] != n_actions:
            self.next_action_masks = np.ones((self.buffer_size, n_actions), dtype=bool)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: Any,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: Any,
        terminated: np.ndarray,
        next_action_masks: np.ndarray | None = None,
    ) -> None:
        """Store a batch of transitions (one row per env), wrapping around at the end."""
        n = len(rewards)
        rows = (
            (self.position + np.arange(n)) % self.buffer_size
            if self.position + n > self.buffer_size
            else None
        )
        where = rows if rows is not None else slice(self.position, self.position + n)
        if self.optimize_memory_usage:
            self._add_in_place(n, obs, next_obs)
        else:
            put(self.observations, where, obs)
            put(self.next_observations, where, next_obs)
        self.actions[where] = actions
        self.rewards[where] = rewards
        self.terminated[where] = terminated
        if self.next_action_masks is not None:
            self.next_action_masks[where] = next_action_masks
        self.position = (self.position + n) % self.buffer_size
        self.size = min(self.size + n, self.buffer_size)

    def _add_in_place(self, n: int, obs: Any, next_obs: Any) -> None:
        """optimize_memory_usage's add: keep aside the last observation of each episode that ended at the last
        add (its row, about to be overwritten, holds it and the new episode's first observation differs), write
        the observations, and their next ones into the rows the next add fills."""
        if self._rows_per_add and n != self._rows_per_add:
            raise ValueError(
                f"optimize_memory_usage needs the same rows per add (one per env): {self._rows_per_add}, then {n}"
            )
        if n >= self.buffer_size:
            raise ValueError(
                f"optimize_memory_usage needs buffer_size ({self.buffer_size}) above the rows per add ({n})"
            )
        self._rows_per_add = n
        rows = np.arange(self.position, self.position + n) % self.buffer_size
        if self._last_rows is not None:
            held = self._read(rows)
            ended = np.zeros(n, dtype=bool)
            for old, new in zip(leaves(held), leaves(obs), strict=True):
                ended |= (old != np.asarray(new)).reshape(n, -1).any(axis=1)
            for i in np.flatnonzero(ended):
                self._last_observations[int(self._last_rows[i])] = map_batch(lambda a, i=i: a[i].copy(), held)
            self._ended[self._last_rows[ended]] = True
        for row in rows[self._ended[rows]]:
            del self._last_observations[int(row)]  # these rows now start new transitions
        self._ended[rows] = False
        self._write(rows, obs)
        self._write((rows + n) % self.buffer_size, next_obs)
        self._last_rows = rows

    def _read(self, rows: np.ndarray) -> Any:
        """The in-place store's observations at `rows`."""
        if isinstance(self.observations, StackedFrames):
            return self.observations.read(rows)
        return take(self.observations, rows)

    def _write(self, rows: np.ndarray, obs: Any) -> None:
        if isinstance(self.observations, StackedFrames):
            self.observations.write(rows, np.asarray(obs))
        else:
            put(self.observations, rows, obs)

    def sample(self, batch_size: int, batches: int | None = None) -> ReplayBatch:
        """Uniform with replacement, as SB3 does: one vectorized draw, no per-item Python.

        With `batches=n`, n minibatches at once: every array gains a leading axis of n.
        """
        shape = batch_size if batches is None else (batches, batch_size)
        if not self.optimize_memory_usage:
            idx = self.rng.integers(0, self.size, size=shape)
            obs, next_obs = take(self.observations, idx), take(self.next_observations, idx)
        else:
            n = self._rows_per_add
            # The rows the newest next observations overwrote hold no transition: draw from the others.
            first = (self.position + n) % self.buffer_size if self.size + n > self.buffer_size else 0
            count = min(self.size, self.buffer_size - n)
            idx = (first + self.rng.integers(0, count, size=shape)) % self.buffer_size
            obs = self._read(idx)
            next_obs = self._read((idx + n) % self.buffer_size)
            for at in zip(*np.nonzero(self._ended[idx])):
                put(next_obs, at, self._last_observations[int(idx[at])])
        rewards = self.rewards[idx]
        if self.obs_normalizer is not None:
            obs, next_obs = self.obs_normalizer(obs), self.obs_normalizer(next_obs)
        if self.reward_scaler is not None:
            rewards = self.reward_scaler(rewards)
        encode = self.front_end.encode
        return ReplayBatch(
            encode(obs),
            self.actions[idx],
            rewards,
            encode(next_obs),
            self.terminated[idx],
            None if self.next_action_masks is None else self.next_action_masks[idx],
        )

    def _saved_observations(self, store: Any, rows: int | None = None) -> Any:
        """The first `rows` rows (default `size`); a Dict's or Tuple's arrays under "0", "1", ... in `leaves`
        order (a Dict's keys are the user's, and a checkpoint's array names must not contain '/')."""
        rows = self.size if rows is None else rows
        arrays = [array[:rows].copy() for array in leaves(store)]
        return arrays[0] if isinstance(store, np.ndarray) else {str(i): a for i, a in enumerate(arrays)}

    def _in_place_state(self) -> dict:
        """optimize_memory_usage's state: the rows written (the newest next observations included) and the
        ended episodes' last observations, stacked."""
        ended = sorted(self._last_observations)
        stacked = self.front_end.empty((len(ended),))
        for i, row in enumerate(ended):
            put(stacked, i, self._last_observations[row])
        written = min(self.size + self._rows_per_add, self.buffer_size)
        if isinstance(self.observations, StackedFrames):
            observations = {"stacked_frames": self.observations.state_dict(written)}
        else:
            observations = {"observations": self._saved_observations(self.observations, written)}
        return {
            **observations,
            "rows_per_add": self._rows_per_add,
            "last_rows": np.asarray([] if self._last_rows is None else self._last_rows, np.int64),
            "ended_rows": np.asarray(ended, np.int64),
            "ended_observations": self._saved_observations(stacked, len(ended)),
        }

    def state_dict(self) -> dict:
        n = self.size
        if self.optimize_memory_usage:
            observations = self._in_place_state()
        else:
            observations = {
                "observations": self._saved_observations(self.observations),
                "next_observations": self._saved_observations(self.next_observations),
            }
        state = {
            **observations,
            "actions": self.actions[:n].copy(),
            "rewards": self.rewards[:n].copy(),
            "terminated": self.terminated[:n].copy(),
            "position": self.position,
        }
        if self.next_action_masks is not None:
            state["next_action_masks"] = self.next_action_masks[:n].copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        n = len(state["rewards"])
        if n > self.buffer_size:
            raise ValueError(
                f"saved replay buffer holds {n} transitions, more than buffer_size {self.buffer_size}"
            )
        if ("ended_rows" in state) != self.optimize_memory_usage:
            raise ValueError(
                "the saved replay buffer was "
                + ("not " if self.optimize_memory_usage else "")
                + "stored with optimize_memory_usage; resume with the setting it was trained with"
            )
        if ("stacked_frames" in state) != isinstance(self.observations, StackedFrames):
            raise ValueError(
                "the saved replay buffer was "
                + ("" if "stacked_frames" in state else "not ")
                + "stored with frame_stack; resume with the frame_stack it was trained with"
            )
        if self.optimize_memory_usage:
            self._load_in_place(state)
        else:
            for name in ("observations", "next_observations"):
                _load_rows(getattr(self, name), state[name])
        for name in ("actions", "rewards", "terminated"):
            getattr(self, name)[:n] = state[name]
        if "next_action_masks" in state:
            masks = np.asarray(state["next_action_masks"], dtype=bool)
            self.store_action_masks(masks.shape[1])
            self.next_action_masks[:n] = masks
        self.size = n
        self.position = int(state["position"]) % self.buffer_size

    def _load_in_place(self, state: dict) -> None:
        if isinstance(self.observations, StackedFrames):
            self.observations.load_state_dict(state["stacked_frames"])
        else:
            _load_rows(self.observations, state["observations"])
        self._rows_per_add = int(state["rows_per_add"])
        last = np.asarray(state["last_rows"], np.int64)
        self._last_rows = last if len(last) else None
        ended = self.front_end.empty((len(state["ended_rows"]),))
        _load_rows(ended, state["ended_observations"])
        self._last_observations = {
            int(row): map_batch(lambda a, i=i: a[i].copy(), ended)
            for i, row in enumerate(state["ended_rows"])
        }
        self._ended[:] = False
        self._ended[list(self._last_observations)] = True


def _load_rows(store: Any, saved: Any) -> None:
    """Write a `_saved_observations` result back into the first rows of `store`."""
    saved = [saved[str(i)] for i in range(len(saved))] if isinstance(saved, dict) else [saved]
    for target, array in zip(leaves(store), saved, strict=True):
        target[: len(array)] = array


def replay_update_due(
    buffer: ReplayBuffer, total_steps: int, learning_starts: int, batch_size: int, chunk_closed: bool
) -> bool:
    """The off-policy cadence (DQN, DDPG, TD3, SAC): an update where a collection chunk closes (every
    `train_freq` vectorized steps, or at the end of every `train_freq`-th episode), once more than
    `learning_starts` env steps have been taken (SB3's `num_timesteps > learning_starts`: the first step after
    the warm-up acts with the untrained policy) and a batch can be sampled. A chunk that closes before then
    passes without one."""
    return chunk_closed and total_steps > learning_starts and len(buffer) >= batch_size


class RolloutBatch(NamedTuple):
    observations: np.ndarray  # (B, input_dim) network inputs, as the policy saw them (normalised if it is on)
    # (B,) int64 for discrete, (B, k) int64 multi-discrete or int8 multi-binary, (B, *action_shape) float32 for
    # boxes: the unclipped sample
    actions: np.ndarray
    old_values: np.ndarray  # (B,) V(s) when the action was taken
    old_log_prob: np.ndarray  # (B,) log pi_old(a|s) when the action was taken
    advantages: np.ndarray  # (B,) GAE advantages
    returns: np.ndarray  # (B,) value targets: advantages + old_values
    action_masks: np.ndarray | None = None  # (B, mask width) bools the action was sampled under; None without


# The RolloutBuffer arrays behind each RolloutBatch field, in field order.
_BATCH_FIELDS = ("observations", "actions", "values", "log_probs", "advantages", "returns")


class RolloutBuffer:
    """One on-policy rollout: `n_steps` vectorized steps from `n_envs` envs, in preallocated time-major arrays.

    `terminated` and `truncated` are stored apart on purpose: both end the GAE trace, but only a truncation
    bootstraps, from `final_values` = V(true final observation) recorded at that step. Advantages and returns
    are filled by `compute_returns_and_advantages` once the rollout is full; `minibatches` then serves flat
    (n_steps * n_envs) views in random order.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        observations: ObservationFrontEnd | tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        action_dtype: type = np.int64,
        mask_dim: int = 0,
    ) -> None:
        """`action_dtype`: the action space's own (int64 discrete, int8 multi-binary, float32 box); `mask_dim`:
        the width of the env's invalid-action masks (n, or sum(nvec) for multi-discrete), 0 without masks."""
        if n_steps < 1 or n_envs < 1:
            raise ValueError(f"n_steps and n_envs must be >= 1, got {n_steps} and {n_envs}")
        self.n_steps, self.n_envs = int(n_steps), int(n_envs)
        shape = (self.n_steps, self.n_envs)
        self.front_end = as_front_end(observations)
        self.observations: Any = self.front_end.empty(shape)
        self.actions = np.zeros((*shape, *action_shape), dtype=action_dtype)
        self.action_masks = np.ones((*shape, mask_dim), dtype=bool) if mask_dim else None
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.final_values = np.zeros(shape, dtype=np.float32)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self.position = 0

    @property
    def full(self) -> bool:
        return self.position == self.n_steps

    def reset(self) -> None:
        self.position = 0

    def add(
        self,
        obs: Any,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        values: np.ndarray,
        log_probs: np.ndarray,
        final_values: np.ndarray,
        action_masks: np.ndarray | None = None,
    ) -> None:
        """Store one vectorized step (one row per env)."""
        if self.full:
            raise RuntimeError("the rollout buffer is full: compute advantages, consume it, then reset()")
        t = self.position
        put(self.observations, t, obs)
        self.actions[t] = actions
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        self.truncated[t] = truncated
        self.values[t] = values
        self.log_probs[t] = log_probs
        self.final_values[t] = final_values
        if self.action_masks is not None:
            self.action_masks[t] = action_masks
        self.position += 1

    def compute_returns_and_advantages(
        self, last_values: np.ndarray, gamma: float, gae_lambda: float
    ) -> None:
        """GAE over the full rollout; `last_values` (n_envs,) = V of the observation that follows it."""
        self.advantages[...] = gae(
            self.rewards,
            self.values,
            self.terminated,
            self.truncated,
            self.final_values,
            last_values,
            gamma,
            gae_lambda,
        )
        np.add(self.advantages, self.values, out=self.returns)

    def _flat(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(self.n_steps * self.n_envs, *array.shape[2:])

    def _flat_rest(self) -> list[np.ndarray | None]:
        """Flat views behind every field but observations, in field order: the masks last, None without."""
        masks = None if self.action_masks is None else self._flat(self.action_masks)
        return [self._flat(getattr(self, name)) for name in _BATCH_FIELDS[1:]] + [masks]

    def full_batch(self) -> RolloutBatch:
        """The whole rollout as one batch in time-major order: flat views (no copy), but for observations
        that need encoding."""
        observations = self.front_end.encode(map_batch(self._flat, self.observations))
        return RolloutBatch(observations, *self._flat_rest())

    def minibatches(self, batch_size: int, rng: np.random.Generator) -> Iterator[RolloutBatch]:
        """One pass over the rollout in a random order drawn from `rng`; the last batch may be smaller."""
        observations = map_batch(self._flat, self.observations)
        rest = self._flat_rest()
        encode = self.front_end.encode
        order = rng.permutation(self.n_steps * self.n_envs)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield RolloutBatch(
                encode(take(observations, idx)), *(None if array is None else array[idx] for array in rest)
            )

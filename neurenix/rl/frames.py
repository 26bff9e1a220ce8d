"""Stacked frames stored once: the replay buffer's observation store for frame-stacked envs.

A frame-stacked env (gymnasium's `FrameStackObservation`, `env.frame_stack` in a config) gives observations of
the last N frames along their first axis, so each one shares N - 1 frames with the observation the same env gave
a step before. The replay buffer's in-place store (one row per env per step, the same env's next row `n_envs`
rows on; see `buffers`) then keeps only each row's newest frame and rebuilds a row's stack from the rows before
it: a quarter of the bytes for Atari's 4 x 84 x 84 observations.

A row whose stack does not continue the one before it (an episode's first observation, the first row an env
writes) is a *head*: its whole stack is kept aside, once per episode. Every row records how many rows back its
head is, capped at N - 1: a row at the cap reads its N frames from its own row and the N - 1 before it, a row
closer to its head reads its older frames from the head's stack. Overwriting a row (the ring wrapping) would cut
the chains of the rows after it, so those rows become heads first. Whether a stack continues is checked on the
data, never assumed: observations that are not such stacks cost memory (every row a head), never a wrong
observation.
"""

from __future__ import annotations

import numpy as np

NEVER_WRITTEN = -1


class StackedFrames:
    """`rows` observations of `shape` (N, *frame) in `dtype`, stored as one frame per row plus the heads."""

    def __init__(self, rows: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if len(shape) < 2 or shape[0] < 2:
            raise ValueError(
                f"stacked frames need observations of 2 or more frames on the first axis, got {shape}"
            )
        self.rows = int(rows)
        self.stack = int(shape[0])
        self.frames = np.zeros((rows, *shape[1:]), dtype=dtype)
        # Rows back to the row's head, capped at stack - 1; NEVER_WRITTEN before the row's first write.
        self.depth = np.full(rows, NEVER_WRITTEN, dtype=np.int16)
        self.heads: dict[int, np.ndarray] = {}
        self.stride = 0  # rows per write: a row's predecessor is `stride` rows before it

    def _back(self, rows: np.ndarray, steps: np.ndarray | int) -> np.ndarray:
        return (rows - steps * self.stride) % self.rows

    def read(self, index: np.ndarray) -> np.ndarray:
        """The stacks of the rows `index` (any shape of row numbers): index.shape + (N, *frame)."""
        flat = np.asarray(index).ravel()
        depth = self.depth[flat]
        older = np.arange(self.stack - 1, -1, -1)  # the stack's frames, oldest first, are this many rows back
        out = self.frames[self._back(flat[:, None], older)]
        for at in np.flatnonzero(depth < self.stack - 1):
            row, back = int(flat[at]), int(depth[at])
            head = int(self._back(np.int64(row), back))
            out[at, : self.stack - back] = self.heads[head][back:]
        return out.reshape(np.shape(index) + out.shape[1:])

    def write(self, rows: np.ndarray, stacks: np.ndarray) -> None:
        """Write one stack per row: one row per env, each env's previous write `len(rows)` rows before."""
        if self.stride and len(rows) != self.stride:
            raise ValueError(f"stacked frames need the same rows per write: {self.stride}, then {len(rows)}")
        self.stride = len(rows)
        self._make_heads_after(rows)
        before = self._back(rows, 1)
        for row, previous, stack in zip(rows.tolist(), before.tolist(), stacks, strict=True):
            self.heads.pop(row, None)
            if self.depth[previous] != NEVER_WRITTEN and np.array_equal(
                stack[:-1], self.read(np.asarray([previous]))[0, 1:]
            ):
                self.depth[row] = min(int(self.depth[previous]) + 1, self.stack - 1)
            else:
                self.depth[row] = 0
                self.heads[row] = np.array(stack, copy=True)
            self.frames[row] = stack[-1]

    def _make_heads_after(self, rows: np.ndarray) -> None:
        """Before `rows` are overwritten: every row whose stack reads one of them keeps its stack aside."""
        writing = set(rows.tolist())
        reading = [
            row
            for steps in range(1, self.stack)
            for row in ((rows + steps * self.stride) % self.rows).tolist()
            if row not in writing and self.depth[row] >= steps
        ]
        if reading:
            stacks = self.read(np.asarray(reading))
            for row, stack in zip(reading, stacks, strict=True):
                self.heads[row] = stack
                self.depth[row] = 0

    def state_dict(self, rows: int) -> dict:
        """The first `rows` rows and the heads among them."""
        heads = sorted(row for row in self.heads if row < rows)
        return {
            "frames": self.frames[:rows].copy(),
            "depth": self.depth[:rows].copy(),
            "stride": self.stride,
            "head_rows": np.asarray(heads, np.int64),
            "head_stacks": np.asarray([self.heads[row] for row in heads], self.frames.dtype).reshape(
                len(heads), self.stack, *self.frames.shape[1:]
            ),
        }

    def load_state_dict(self, state: dict) -> None:
        frames = np.asarray(state["frames"])
        if frames.shape[1:] != self.frames.shape[1:] or len(frames) > self.rows:
            raise ValueError(
                f"saved stacked frames of shape {frames.shape} do not fit a store of {self.rows} frames of "
                f"{self.frames.shape[1:]}"
            )
        self.frames[: len(frames)] = frames
        self.depth[:] = NEVER_WRITTEN
        self.depth[: len(frames)] = state["depth"]
        self.stride = int(state["stride"])
        self.heads = {
            int(row): np.array(stack)
            for row, stack in zip(state["head_rows"], state["head_stacks"], strict=True)
        }

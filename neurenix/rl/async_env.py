"""AsyncVecEnv: `VecEnv` with its env copies stepped in parallel, every copy but the first in its own worker process.

The same interface and the same numbers as `VecEnv` for a seed: a worker runs `environment.step_copy` on its
copy (the one definition of a step with same-step autoreset and the final observation), and the parent does the
rest exactly as `VecEnv` does (`VecEnv._assemble`: episode bookkeeping, `batch_observations`, masks). Only the
stepping moves, so it pays when an env's step costs far more than what the processes add (benchmarks/README.md):
a simulator, not CartPole.

Copy 0 lives in the trainer and steps there while the workers step theirs: the trainer would otherwise sit
waiting for them, and it saves a process wake-up per step (on a 2-core VM a wake-up costs ~0.13 ms, as much as a
fast env's step). With one copy there is no worker at all. A worker saves the other wake-up by polling its pipe
for a moment after each reply (`_stay_awake`): 2 copies of a 1 ms env went from 1.74x / 1.68x sync's speed (DQN /
PPO) to 1.84x / 1.78x, in one quiet sitting (benchmarks/README.md).

Per step and worker, one small message each way over a raw pipe (`os.read`/`os.write` of length-prefixed
bytes; multiprocessing's Connection costs about three times as much): the action (an int for Discrete, else a
pickle) and whether the step reaches `max_episode_steps`; back the reward and the two flags, packed. A Box
observation (and a finished episode's final one) is written into a shared-memory array and read from there;
other spaces, masks and an observation of the wrong shape travel pickled in the reply.

Workers die with the trainer: each asks Linux for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG), and
exits when its command pipe reaches EOF (every other system, or a parent that died before the prctl). They ignore
SIGINT, so a Ctrl-C reaches the trainer alone, which finishes its step and then closes them. An exception in a
copy's env is raised in the trainer (the env's own exception; from a worker, its traceback attached as a note);
a worker that dies is an `EnvWorkerError`.

Workers start with the 'spawn' method by default: a fresh interpreter, safe whatever threads the trainer runs
(BLAS pools, a live progress view) at the cost of importing numpy and gymnasium again (~0.4 s in all, the
copies starting in parallel, once).
'fork' starts in ~10 ms but may deadlock a child when another thread held a lock at the fork.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import select
import signal
import struct
import sys
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.errors import EnvWorkerError
from neurenix.rl.environment import (
    CopyStep,
    MaskReader,
    StepResult,
    VecEnv,
    _mask_methods,
    reset_copy,
    step_copy,
)
from neurenix.rl.observations import storage_dtype

_LENGTH = struct.Struct("<I")
_DISCRETE_STEP = struct.Struct("<?q")  # cap_hit, action
_REPLY = struct.Struct("<d???")  # reward, terminated, truncated, extras (pickled) follow
_PR_SET_PDEATHSIG = 1
# How long a worker watches its command pipe after a reply before it sleeps in a read: the trainer's own work
# between two steps is ~0.1 ms, and waking a sleeping process costs about as much (module docstring).
_AWAKE_SECONDS = 4e-4
CLOSE_TIMEOUT_S = 2.0


class AsyncVecEnv(VecEnv):
    """`VecEnv` whose copies step in parallel: `env_fns` are picklable callables, each building one copy (the
    first in this process, each other one in its worker, so a factory that imports the user's modules imports
    them there). `context` is a multiprocessing start method ('spawn', 'forkserver', 'fork'). Close it (or let
    the trainer exit) to end the workers."""

    def __init__(
        self,
        env_fns: Sequence[Callable[[], Any]],
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        action_mask_key: str | None = None,
        context: str = "spawn",
    ) -> None:
        if not env_fns:
            raise ValueError("AsyncVecEnv needs at least one environment")
        self.envs = []  # copy 0, the one stepped in this process
        self._workers: list[_Worker] = []
        self._shm: shared_memory.SharedMemory | None = None
        self._closed = False
        self._broken: str | None = None  # why the copies can no longer be trusted to be in step
        ctx = multiprocessing.get_context(context)
        # Stop the workers even when this object is never closed; the finalizer holds no reference to self.
        self._finalizer = weakref.finalize(self, _shut_down, self._workers, None)
        try:
            for i, fn in enumerate(env_fns[1:], start=1):
                self._workers.append(_Worker.start(ctx, i, fn))
            local = env_fns[0]()  # built while the workers start
            self.envs.append(local)
            local_methods = _mask_methods([local])
            spaces = [(local.observation_space, local.action_space, local_methods is not None)]
            spaces += [worker.ready() for worker in self._workers]
            env_obs_space, env_act_space, _ = spaces[0]
            self._configure(
                len(env_fns),
                observation_space or env_obs_space,
                action_space or env_act_space,
                max_episode_steps,
                seed,
                action_mask_key,
            )
            methods = action_mask_key is None and self._mask_starts is not None and all(s[2] for s in spaces)
            self._finish_masks(methods)
            self._local_reader = None
            if self.masks_actions:
                self._local_reader = MaskReader(
                    local_methods[0] if methods else None, action_mask_key, self.action_space
                )
            self._obs_rows, self._final_rows = self._shared_rows() if self._workers else (None, None)
            name = None if self._shm is None else self._shm.name
            layout = None if self._shm is None else (self._obs_rows.shape, self._obs_rows.dtype.str)
            for worker in self._workers:
                worker.send(b"m" + pickle.dumps((self.masks_actions, methods, action_mask_key, name, layout)))
            for worker in self._workers:
                reply = worker.receive("while starting")
                if reply[:1] == b"e":
                    raise worker.error(reply)
            if self._shm is not None:
                # Every worker has it mapped: the name can go, so that no kill leaves it behind in /dev/shm.
                self._shm.unlink()
        except BaseException:
            self.close()
            raise
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _shut_down, self._workers, self._shm)

    def _shared_rows(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(n, *shape) arrays for the copies' observations and final observations (row i for copy i; copy 0's
        row unused), in one shared segment; (None, None) unless the observation space is a numeric Box."""
        space = self.observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape is None:
            return None, None
        dtype = np.dtype(storage_dtype(space))
        shape = (self.num_envs, *space.shape)
        size = int(np.prod(shape)) * dtype.itemsize
        self._shm = shared_memory.SharedMemory(create=True, size=max(2 * size, 1))
        obs = np.ndarray(shape, dtype, buffer=self._shm.buf, offset=0)
        final = np.ndarray(shape, dtype, buffer=self._shm.buf, offset=size)
        return obs, final

    # ------------------------------------------------------------------------------------------ stepping
    def reset(self, seed: int | None = None) -> Any:
        self._usable()
        for worker in self._workers:
            worker.send(b"r" + pickle.dumps(None if seed is None else seed + worker.index))
        local, replies = self._in_parallel(lambda: reset_copy(self.envs[0], seed, self._local_reader))
        copies = [local]
        for worker, reply in zip(self._workers, replies):
            _, extras = _unpack(reply)
            obs, mask = extras if extras is not None else (None, None)
            copies.append((self._obs_rows[worker.index] if obs is None else obs, mask))
        return self._assemble_reset(copies)

    def step(self, actions: np.ndarray) -> StepResult:
        self._usable()
        discrete = self._discrete_actions
        for worker in self._workers:
            i = worker.index
            cap_hit = self._cap_hit(i)
            if discrete:
                worker.send(b"s" + _DISCRETE_STEP.pack(cap_hit, int(actions[i])))
            else:
                worker.send(b"S" + pickle.dumps((cap_hit, actions[i]), protocol=pickle.HIGHEST_PROTOCOL))
        local, replies = self._in_parallel(
            lambda: step_copy(
                self.envs[0], self._copy_action(actions, 0), self._cap_hit(0), self._local_reader
            )
        )
        copies = [local]
        for worker, reply in zip(self._workers, replies):
            (reward, term, trunc), extras = _unpack(reply)
            obs, final_obs, mask, final_mask = extras if extras is not None else (None, None, None, None)
            if obs is None:
                obs = self._obs_rows[worker.index]
            if (term or trunc) and final_obs is None:
                final_obs = self._final_rows[worker.index]
            copies.append(CopyStep(obs, reward, term, trunc, final_obs, mask, final_mask))
        return self._assemble(copies)

    def _in_parallel(self, local_step: Callable[[], Any]) -> tuple[Any, list[bytes]]:
        """Copy 0's `local_step`, run while the workers answer the command just sent, and every worker's reply
        in copy order; the first error (in copy order) raised once all have answered, so that the workers stay
        in step for `close`."""
        error = local = None
        try:
            local = local_step()
        except BaseException as exc:  # the env's own error, or a Ctrl-C while it stepped
            error = exc
        replies = []
        for worker in self._workers:
            try:
                reply = worker.receive()
            except BaseException as exc:  # a dead worker, or a second Ctrl-C while waiting
                self._broken = f"{type(exc).__name__}: {exc}"
                raise
            if reply[:1] == b"e" and error is None:
                error = worker.error(reply)
            replies.append(reply)
        if error is not None:
            self._broken = f"{type(error).__name__}: {error}"
            raise error
        return local, replies

    def _usable(self) -> None:
        if self._closed:
            raise EnvWorkerError("This AsyncVecEnv is closed; make a new one.")
        if self._broken is not None:
            raise EnvWorkerError(
                f"This AsyncVecEnv stopped at an error ({self._broken}); close it and make a new one."
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        _shut_down(self._workers, self._shm)
        self._obs_rows = self._final_rows = None
        super().close()


def _shut_down(workers: list[_Worker], shm: shared_memory.SharedMemory | None) -> None:
    """Ask every worker to close its env and exit; kill those that have not within CLOSE_TIMEOUT_S."""
    for worker in workers:
        worker.ask_to_close()
    for worker in workers:
        worker.join()
    if shm is not None:
        try:
            shm.close()
        except BufferError:  # a batch still views it; the mapping goes when the process does
            pass


def _unpack(reply: bytes) -> tuple[tuple, Any]:
    reward, terminated, truncated, more = _REPLY.unpack_from(reply, 1)
    return (reward, terminated, truncated), pickle.loads(reply[1 + _REPLY.size :]) if more else None


# ---------------------------------------------------------------------------------------- the worker side
class _Worker:
    """The trainer's handle on one worker process: its pipes and how to end it."""

    def __init__(self, index: int, process: Any, commands: int, replies: int) -> None:
        self.index = index
        self.process = process
        self.commands = commands
        self.replies = replies
        self._buffer = b""

    @classmethod
    def start(cls, ctx: Any, index: int, fn: Callable[[], Any]) -> _Worker:
        command_r, command_w = ctx.Pipe(duplex=False)
        reply_r, reply_w = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_work,
            # Pickled here, unpickled inside the worker's error handling: a factory that cannot be rebuilt
            # there (a module the worker cannot import) is reported like any other failure to build the copy.
            args=(pickle.dumps(fn), index, command_r, reply_w, os.getpid()),
            name=f"neurenix-env-{index}",
            daemon=True,  # multiprocessing ends it at the trainer's normal exit too
        )
        process.start()
        command_r.close()
        reply_w.close()
        # Keep the Connection objects alive (they own the descriptors); talk through the raw descriptors.
        worker = cls(index, process, command_w.fileno(), reply_r.fileno())
        worker._connections = (command_w, reply_r)
        return worker

    def send(self, payload: bytes) -> None:
        try:
            _write(self.commands, payload)
        except OSError:
            raise self._died() from None

    def receive(self, during: str = "in the middle of a step") -> bytes:
        message = _read(self.replies, self)
        if message is None:
            raise self._died(during)
        return message

    def ready(self) -> tuple[gym.Space, gym.Space, bool]:
        reply = self.receive("while starting")
        if reply[:1] == b"e":
            raise self.error(reply)
        return pickle.loads(reply[1:])

    def error(self, reply: bytes) -> BaseException:
        exc, summary, text = pickle.loads(reply[1:])
        where = f"in env copy {self.index}'s worker process (pid {self.process.pid})"
        if exc is None:
            return EnvWorkerError(f"{summary}, raised {where}. Its traceback:\n{text}")
        exc.add_note(f"Raised {where}. Its traceback:\n{text}")
        return exc

    def _died(self, during: str = "in the middle of a step") -> EnvWorkerError:
        self.process.join(0.5)
        code = self.process.exitcode
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else "is still running but closed its pipe"
            if code is None
            else f"exited with code {code}"
        )
        return EnvWorkerError(
            f"Env copy {self.index}'s worker process (pid {self.process.pid}) {how} {during}. "
            "Run with env.vectorization: sync to see the env's own error in this process."
        )

    def ask_to_close(self) -> None:
        try:
            _write(self.commands, b"c")
        except OSError:
            pass

    def join(self) -> None:
        process = self.process
        process.join(CLOSE_TIMEOUT_S)
        if process.exitcode is None:
            process.kill()
            process.join()
        for connection in getattr(self, "_connections", ()):
            connection.close()


def _write(fd: int, payload: bytes) -> None:
    data = memoryview(_LENGTH.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _read(fd: int, owner: Any) -> bytes | None:
    """One length-prefixed message from `fd` (None at EOF); bytes read beyond it wait in `owner._buffer`."""
    buffer = owner._buffer
    while len(buffer) < _LENGTH.size or len(buffer) < _LENGTH.size + _LENGTH.unpack_from(buffer)[0]:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buffer += chunk
    end = _LENGTH.size + _LENGTH.unpack_from(buffer)[0]
    owner._buffer = buffer[end:]
    return buffer[_LENGTH.size : end]


def _stay_awake(fd: int, owner: Any) -> None:
    """Poll `fd` for up to _AWAKE_SECONDS, so that a command arriving meanwhile finds this process running;
    not after a longer wait for the last command (the trainer was updating): the poll would only take a core
    from its BLAS threads."""
    if owner._buffer or owner.wait > _AWAKE_SECONDS:
        return
    until = time.perf_counter() + _AWAKE_SECONDS
    while not select.select([fd], [], [], 0)[0] and time.perf_counter() < until:
        pass


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies (Linux); the pipe's EOF covers other systems."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took hold
        os._exit(1)


def _work(fn_pickle: bytes, index: int, command_conn: Any, reply_conn: Any, parent_pid: int) -> None:
    """A worker's life: build the copy, report its spaces, then answer commands until 'close' or EOF."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle; it then closes us
    commands, replies = command_conn.fileno(), reply_conn.fileno()

    class Inbox:
        _buffer = b""
        wait = 0.0  # seconds from the last reply to the command that followed it

    inbox = Inbox()
    env = None
    shm = None
    try:
        env = pickle.loads(fn_pickle)()
        has_method = _mask_methods([env]) is not None
        _write(replies, b"y" + pickle.dumps((env.observation_space, env.action_space, has_method)))
        read_mask = None
        obs_rows = final_rows = None
        replied = time.perf_counter()
        while True:
            _stay_awake(commands, inbox)
            message = _read(commands, inbox)
            inbox.wait = time.perf_counter() - replied
            if message is None or message[:1] == b"c":
                break
            kind = message[:1]
            try:
                if kind == b"s" or kind == b"S":
                    if kind == b"s":
                        cap_hit, action = _DISCRETE_STEP.unpack_from(message, 1)
                    else:
                        cap_hit, action = pickle.loads(message[1:])
                    copy = step_copy(env, action, cap_hit, read_mask)
                    done = copy.terminated or copy.truncated
                    obs_extra = _into(obs_rows, copy.obs)
                    final_extra = _into(final_rows, copy.final_obs) if done else None
                    extras = None
                    if obs_extra is not None or final_extra is not None or read_mask is not None:
                        extras = (obs_extra, final_extra, copy.mask, copy.final_mask)
                    _reply(replies, copy.reward, copy.terminated, copy.truncated, extras)
                elif kind == b"r":
                    obs, mask = reset_copy(env, pickle.loads(message[1:]), read_mask)
                    obs_extra = _into(obs_rows, obs)
                    extras = None if obs_extra is None and mask is None else (obs_extra, mask)
                    _reply(replies, 0.0, False, False, extras)
                elif kind == b"m":
                    masks, methods, key, name, layout = pickle.loads(message[1:])
                    if masks:
                        method = _mask_methods([env])[0] if methods else None
                        read_mask = MaskReader(method, key, env.action_space)
                    if name is not None:
                        shm = shared_memory.SharedMemory(name=name)
                        shape, dtype = layout
                        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
                        obs_rows = np.ndarray(shape, dtype, buffer=shm.buf, offset=0)[index]
                        final_rows = np.ndarray(shape, dtype, buffer=shm.buf, offset=size)[index]
                    _reply(replies, 0.0, False, False, None)
            except Exception as exc:
                _send_error(replies, exc)
            replied = time.perf_counter()
    except Exception as exc:  # building the copy failed
        _send_error(replies, exc)
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:
                pass
        obs_rows = final_rows = None
        if shm is not None:
            try:
                shm.close()
            except BufferError:
                pass


def _into(row: np.ndarray | None, obs: Any) -> Any:
    """Write `obs` into this copy's shared row and return None, or return `obs` to be sent pickled (no shared
    memory for this space, or an observation of another shape, whose error `batch_observations` then raises as
    it would in `VecEnv`)."""
    if row is None or np.shape(obs) != row.shape:
        return obs
    row[...] = obs
    return None


def _reply(fd: int, reward: float, terminated: bool, truncated: bool, extras: Any) -> None:
    head = b"o" + _REPLY.pack(reward, terminated, truncated, extras is not None)
    _write(fd, head if extras is None else head + pickle.dumps(extras, protocol=pickle.HIGHEST_PROTOCOL))


def _send_error(fd: int, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    summary = f"{type(exc).__name__}: {exc}"
    try:
        payload = pickle.dumps((exc, summary, text))
        pickle.loads(payload)
    except Exception:  # an exception that does not survive pickle travels as text
        payload = pickle.dumps((None, summary, text))
    try:
        _write(fd, b"e" + payload)
    except OSError:
        pass

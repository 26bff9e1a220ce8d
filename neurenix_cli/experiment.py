"""The importable entry points: exactly what `neurenix train` and `neurenix eval` run.

    from neurenix_cli.config import load_prepared
    from neurenix_cli.experiment import train, evaluate
    summary = train(load_prepared("configs/dqn_cartpole.yaml", ["train.total_steps=20000"]), "runs/trial_1")
    result = evaluate(summary["run_dir"], episodes=100)

`train` validates the config (a plain dict, e.g. from Optuna; a `Prepared` one, validated with its agent
built, is trained as it is), creates and locks the run directory, trains
through the agent's callbacks, writes every file of the run directory, and returns the summary. A run stopped by
SIGINT/SIGTERM saves `checkpoints/last`, is marked `interrupted`, and raises `RunInterrupted` (a
KeyboardInterrupt) carrying the summary; a run that fails is marked `failed` and the error propagates.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neurenix.rl.buffers import RolloutBuffer
from neurenix.rl.callbacks import Callback
from neurenix_cli import config as config_mod
from neurenix_cli import runs
from neurenix_cli.reporting import FanOut, PlainReporter, Progress, Reporter

EVAL_SEED_OFFSET = 10_000  # the in-training evaluation env, apart from the training envs' seeds
EVAL_CLI_SEED_OFFSET = 20_000  # `neurenix eval` without --seed: reproducible, and apart from both
METRICS_FIELDS = ["step", "episode", "return", "length", "wall_s"]
EVALS_FIELDS = ["step", "mean_reward", "std_reward", "episodes"]


class RunInterrupted(KeyboardInterrupt):
    """Training stopped by a signal; `checkpoints/last` and `summary.json` (status `interrupted`) are on disk."""

    def __init__(self, signum: int, summary: dict):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.summary = summary

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


# ----------------------------------------------------------------------------------------------------- train
def train(
    config: dict | config_mod.Prepared,
    run_dir: str | os.PathLike | None = None,
    reporter: Reporter | None = None,
    *,
    runs_root: str | os.PathLike = "runs",
    log_interval_s: float = 10.0,
) -> dict:
    """Train one run of `config` into `run_dir` (default: a new `runs_root/<algo>_<env>_<time>`); return the
    summary dict (also written to `run_dir/summary.json`). `config` is a plain dict, validated here, or what
    `config.load_prepared` returned, whose agent is trained as it is."""
    if not isinstance(config, config_mod.Prepared):
        config = config_mod.prepare({k: v for k, v in config.items() if k != "versions"})
    if run_dir is None:
        path = runs.create_run_dir(runs_root, config.config["algorithm"], config.config["env"]["id"])
    else:
        path = Path(run_dir)
        runs.make_dirs(path)
    with runs.RunLock(path):
        leftovers = [p.name for p in path.iterdir() if p.name != runs.LOCK_NAME]
        if leftovers:
            raise runs.RunDirError(
                f"{path} already holds a run ({', '.join(sorted(leftovers)[:3])}...); continue "
                f"it with `neurenix train --resume {path}`, or choose another --run-dir."
            )
        resolved = {**config.config, "versions": config_mod.versions()}
        runs.atomic_write_text(path / runs.CONFIG_NAME, config_mod.dump_yaml(resolved))
        return _Session(config.config, path, reporter, log_interval_s).run(agent=config.agent, previous=None)


def resume(
    run_dir: str | os.PathLike, reporter: Reporter | None = None, *, log_interval_s: float = 10.0
) -> dict:
    """Continue an interrupted or killed run from `checkpoints/last` (from scratch if none was written) up to
    its configured budget. Metrics rows written after that checkpoint are dropped, so none are duplicated."""
    from neurenix.rl import load_agent

    path = Path(run_dir)
    config_path = path / runs.CONFIG_NAME
    if not config_path.is_file():
        raise runs.RunDirError(
            f"{path} is not a run directory (no {runs.CONFIG_NAME}); give the directory a "
            "`neurenix train` created."
        )
    with runs.RunLock(path):
        raw = config_mod.read_yaml(config_path)
        raw.pop("versions", None)
        prepared = config_mod.prepare(raw, source=str(config_path))
        config = prepared.config
        previous = runs.read_summary(path) or {}
        if previous.get("status") == "completed":
            raise runs.RunDirError(
                f"{path} already completed ({previous.get('total_steps')} steps); nothing to "
                "resume. Start a new run with a larger train.total_steps."
            )
        # A killed writer's temporaries are garbage now that we hold the lock, and would pile up run after run.
        runs.remove_leftovers(path)
        checkpoint = runs.resolve_checkpoint(path / "checkpoints" / "last")
        if checkpoint is not None:
            agent = load_agent(str(checkpoint))
            check_checkpoint_fits(agent, checkpoint, path, config)
        else:  # killed before its first checkpoint: start over with the agent validation built
            agent, previous = prepared.agent, {}
        for name in ("metrics.csv", "updates.csv", "evals.csv"):
            runs.truncate_csv_after(path / name, agent.total_steps)
        return _Session(config, path, reporter, log_interval_s).run(agent=agent, previous=previous)


class _Session(Callback):
    """One training session of a run: owns its files, reports through the agent's callbacks."""

    def __init__(self, config: dict, path: Path, reporter: Reporter | None, log_interval_s: float):
        self.config = config
        self.path = path
        self.user_reporter = reporter or Reporter()
        self.log_interval_s = log_interval_s
        tc = config["train"]
        self.eval_every = tc["eval_every"] or 0
        self.eval_episodes = tc["eval_episodes"]
        self.checkpoint_every = tc["checkpoint_every"] or 0
        self.log_every = tc["log_every"]
        self.target_reward = tc["target_reward"]
        self.stop_signal: int | None = None
        self.stop_reason: str | None = None
        self.returns: deque[float] = deque(maxlen=100)
        self.eval_env: Any = None
        self.loss_sums: dict[str, float] = {}
        self.loss_counts: dict[str, int] = {}
        self.latest_losses: dict[str, float] = {}
        self.last_ui = -math.inf
        self.tensorboard: Any = None  # a TensorBoardLog when train.tensorboard is set

    # ------------------------------------------------------------------------------------------------ the run
    def run(self, agent: Any, previous: dict | None) -> dict:
        from neurenix.rl.environment import make_env

        cfg, tc = self.config, self.config["train"]
        previous = previous or {}
        self.wall_before = float(previous.get("wall_s") or 0.0)
        self.best_eval = previous.get("best_eval")
        self.best_eval_step = previous.get("best_eval_step")
        self.latest_eval: float | None = None
        self.latest_eval_step: int | None = None
        self.started_at = previous.get("started_at") or _now()
        self.t0 = time.monotonic()

        env = make_env(
            cfg["env"]["id"], n_envs=cfg["env"]["n_envs"], seed=cfg["seed"], **cfg["env"]["kwargs"]
        )
        log_file = open(self.path / "train.log", "a", encoding="utf-8")
        self.metrics = runs.CsvLog(self.path / "metrics.csv", METRICS_FIELDS)
        self.updates_log = runs.CsvLog(self.path / "updates.csv")
        self.evals = runs.CsvLog(self.path / "evals.csv", EVALS_FIELDS)
        self.reporter = FanOut(PlainReporter(log_file, self.log_interval_s), self.user_reporter)
        try:
            self.agent = agent
            self.start_steps, self.start_episodes = agent.total_steps, agent.episodes
            if tc["tensorboard"]:
                from neurenix_cli.tensorboard_log import TensorBoardLog

                self.tensorboard = TensorBoardLog(self.path, resume_step=self.start_steps)
            # A resumed run's "mean return of the last 100 episodes" continues from the rows already on disk.
            self.returns.extend(float(r["return"]) for r in runs.read_csv(self.path / "metrics.csv")[-100:])
            self.next_eval = _next_multiple(agent.total_steps, self.eval_every)
            self.next_checkpoint = _next_multiple(agent.total_steps, self.checkpoint_every)
            # Rows of updates.csv keep the uninterrupted run's cadence: a resumed run counts log_every from the
            # last row on disk, not from the checkpoint's step.
            logged = runs.read_csv(self.path / "updates.csv")
            self.last_log_step = int(logged[-1]["step"]) if logged else 0
            remaining_steps = None if tc["total_steps"] is None else tc["total_steps"] - agent.total_steps
            remaining_episodes = None if tc["episodes"] is None else tc["episodes"] - agent.episodes
            self._write_summary("running")
            verb = "resuming" if self.start_steps else "training"
            self.reporter.start(
                self.progress(),
                f"{verb} {cfg['algorithm']} on {cfg['env']['id']} "
                f"(seed {cfg['seed']}) from step {self.start_steps} -> {self.path}",
            )
            if (remaining_steps is not None and remaining_steps <= 0) or (
                remaining_episodes is not None and remaining_episodes <= 0
            ):
                pass  # the budget was used up before the interruption: only the final steps remain
            else:
                with _graceful_signals(self):
                    agent.train(
                        env,
                        total_steps=remaining_steps,
                        episodes=remaining_episodes,
                        max_steps=tc["max_steps"],
                        verbose=False,
                        callback=self,
                    )
            self._flush_losses()
            if self.stop_signal is not None:
                self._save_last()
                summary = self._write_summary(
                    "interrupted", stop_reason=signal.Signals(self.stop_signal).name
                )
                self.reporter.finish(
                    self.progress(),
                    f"interrupted by {summary['stop_reason']} at step "
                    f"{agent.total_steps}; checkpoints/last saved. Continue with "
                    f"`neurenix train --resume {self.path}`.",
                )
                raise RunInterrupted(self.stop_signal, summary)
            # `last` first: a Ctrl-C during the final evaluation must not lose the finished training.
            self._save_last()
            final_eval = self._final_eval()
            summary = self._write_summary("completed", final_eval=final_eval, stop_reason=self.stop_reason)
            self.reporter.finish(
                self.progress(),
                f"completed {agent.total_steps} steps in "
                f"{summary['wall_s']:.1f}s; best eval {_fmt(summary['best_eval'])}, final eval "
                f"{_fmt(final_eval)}",
            )
            return summary
        except RunInterrupted:
            raise
        except BaseException as exc:
            # A second signal (or a KeyboardInterrupt we had no handler for) stops at once: nothing is saved
            # mid-update, the previous checkpoint stays, and the summary says what happened.
            if isinstance(exc, KeyboardInterrupt):
                signum = getattr(exc, "signum", None) or self.stop_signal or signal.SIGINT
                summary = self._write_summary(
                    "interrupted", stop_reason=signal.Signals(signum).name, best_effort=True
                )
                self._safe_finish(
                    f"interrupted by {summary['stop_reason']} at once; the last checkpoint is "
                    f"kept. Continue with `neurenix train --resume {self.path}`."
                )
                raise RunInterrupted(signum, summary) from None
            error = f"{type(exc).__name__}: {exc}"
            self._write_summary("failed", error=error, best_effort=True)
            self._safe_finish(f"failed: {error}")
            raise
        finally:
            for log in (self.metrics, self.updates_log, self.evals):
                log.close()
            env.close()
            if self.eval_env is not None:
                self.eval_env.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
            log_file.close()

    def _safe_finish(self, message: str) -> None:
        with contextlib.suppress(Exception):
            self.reporter.finish(self.progress(), message)

    # ------------------------------------------------------------------------------------------------ callbacks
    def on_episode_end(self, info: dict) -> bool:
        self.returns.append(float(info["reward"]))
        self.metrics.write(
            {
                "step": info["total_steps"],
                "episode": info["episode"],
                "return": info["reward"],
                "length": info["length"],
                "wall_s": self.wall_s(),
            }
        )
        if self.tensorboard is not None:
            self.tensorboard.episode(info["total_steps"], float(info["reward"]), int(info["length"]))
        return False

    def on_update(self, info: dict) -> bool:
        for key, value in info.items():
            if key in ("total_steps", "updates") or not isinstance(value, (int, float)):
                continue
            self.loss_sums[key] = self.loss_sums.get(key, 0.0) + float(value)
            self.loss_counts[key] = self.loss_counts.get(key, 0) + 1
            self.latest_losses[key] = float(value)
        self.updates_done = info.get("updates")
        if info["total_steps"] - self.last_log_step >= self.log_every:
            self._flush_losses(info["total_steps"])
        return False

    def on_step(self, total_steps: int) -> bool:
        # An on-policy agent part way through a rollout goes on until the rollout is full and its update done:
        # a checkpoint holds no partial rollout, so stopping or saving earlier would waste the steps since.
        between_updates = not _mid_rollout(self.agent)
        if self.stop_signal is not None and between_updates:
            return True
        stop = False
        if self.eval_every and self.eval_episodes and total_steps >= self.next_eval:
            self.next_eval = _next_multiple(total_steps, self.eval_every)
            mean = self._evaluate(total_steps)
            if self.target_reward is not None and mean >= self.target_reward:
                self.stop_reason = f"target_reward {self.target_reward:g} reached at step {total_steps}"
                self.reporter.event(f"step {total_steps}: {self.stop_reason}; stopping")
                stop = True
        if self.checkpoint_every and total_steps >= self.next_checkpoint and between_updates:
            self.next_checkpoint = _next_multiple(total_steps, self.checkpoint_every)
            self._save_last()
            for log in (self.metrics, self.updates_log, self.evals):
                log.sync()
            if self.tensorboard is not None:
                self.tensorboard.flush()
            self._write_summary("running")
        now = time.monotonic()
        if now - self.last_ui >= 0.2:
            self.last_ui = now
            self.reporter.update(self.progress())
        return stop

    # ------------------------------------------------------------------------------------------------ pieces
    def _evaluate(self, step: int) -> float:
        from neurenix.rl.environment import make_env

        cfg = self.config
        if self.eval_env is None:
            self.eval_env = make_env(
                cfg["env"]["id"], n_envs=1, seed=cfg["seed"] + EVAL_SEED_OFFSET, **cfg["env"]["kwargs"]
            )
        rewards = [
            float(r)
            for r in self.agent.evaluate(
                self.eval_env,
                episodes=self.eval_episodes,
                deterministic=True,
                max_steps=cfg["train"]["max_steps"],
            )
        ]
        mean = statistics.fmean(rewards)
        std = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
        self.evals.write({"step": step, "mean_reward": mean, "std_reward": std, "episodes": len(rewards)})
        if self.tensorboard is not None:
            self.tensorboard.evaluation(step, mean, std)
        self.latest_eval, self.latest_eval_step = mean, step
        line = f"step {step}: eval {mean:.2f} +/- {std:.2f} over {len(rewards)} episodes"
        if self.best_eval is None or mean > self.best_eval:
            self.best_eval, self.best_eval_step = mean, step
            self._save("best")
            line += " (new best, checkpoints/best saved)"
        self.reporter.event(line)
        self._write_summary("running")
        return mean

    def _save_last(self) -> None:
        self._save("last", self.config["train"]["save_replay_buffer"])

    def _save(self, name: str, include_replay_buffer: bool = False) -> None:
        """Save checkpoints/<name>, unless the agent's state holds NaN or inf. The loop checks each update's
        losses, but an update whose loss was finite can still leave non-finite parameters, noticed only at the
        next update: saving in between would replace the last good checkpoint with a diverged one."""
        import numpy as np

        from neurenix.checkpoint import flatten_state
        from neurenix.errors import TrainingDivergedError

        arrays, _ = flatten_state(self.agent.state_dict())
        bad = sorted(k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all())
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise TrainingDivergedError(
                f"Training diverged: the parameters {shown} became NaN or infinite by step "
                f"{self.agent.total_steps}; checkpoints/{name} keeps the last finite state. Lower the "
                "learning rate, clip gradients (max_grad_norm) or normalise observations."
            )
        runs.save_checkpoint(self.agent, self.path / "checkpoints" / name, include_replay_buffer)

    def _final_eval(self) -> float | None:
        if not self.eval_episodes:
            return None
        if self.latest_eval_step == self.agent.total_steps:
            return self.latest_eval
        return self._evaluate(self.agent.total_steps)

    def _flush_losses(self, step: int | None = None) -> None:
        if not self.loss_counts:
            return
        step = self.agent.total_steps if step is None else step
        row = {"step": step, "updates": getattr(self, "updates_done", None)}
        row.update({k: self.loss_sums[k] / self.loss_counts[k] for k in self.loss_sums})
        self.updates_log.write(row)
        if self.tensorboard is not None:
            losses = {k: self.loss_sums[k] / self.loss_counts[k] for k in self.loss_sums}
            self.tensorboard.update(step, losses, self.progress().steps_per_s)
        self.loss_sums.clear()
        self.loss_counts.clear()
        self.last_log_step = step

    def wall_s(self) -> float:
        return self.wall_before + (time.monotonic() - self.t0)

    def progress(self) -> Progress:
        tc = self.config["train"]
        agent = getattr(self, "agent", None)
        return Progress(
            algorithm=self.config["algorithm"],
            env_id=self.config["env"]["id"],
            run_dir=str(self.path),
            step_budget=tc["total_steps"],
            episode_budget=tc["episodes"],
            total_steps=agent.total_steps if agent is not None else 0,
            episodes=agent.episodes if agent is not None else 0,
            start_steps=getattr(self, "start_steps", 0),
            start_episodes=getattr(self, "start_episodes", 0),
            session_s=time.monotonic() - self.t0,
            mean_return=statistics.fmean(self.returns) if self.returns else None,
            latest_eval=self.latest_eval,
            latest_eval_step=self.latest_eval_step,
            best_eval=self.best_eval,
            losses=dict(self.latest_losses),
        )

    def _write_summary(self, status: str, best_effort: bool = False, **extra: Any) -> dict:
        """Write summary.json and return it. `best_effort` (on the way out of a failure): a write that fails
        too, e.g. on a full disk, must not hide the error that ended the run."""
        agent = getattr(self, "agent", None)
        steps = agent.total_steps if agent is not None else 0
        session = time.monotonic() - self.t0
        summary = {
            "status": status,
            "run_dir": str(self.path),
            "algorithm": self.config["algorithm"],
            "env_id": self.config["env"]["id"],
            "seed": self.config["seed"],
            "total_steps": steps,
            "episodes": agent.episodes if agent is not None else 0,
            "wall_s": round(self.wall_s(), 3),
            "steps_per_s": round((steps - getattr(self, "start_steps", 0)) / session, 1)
            if session > 0
            else 0.0,
            "best_eval": self.best_eval,
            "best_eval_step": self.best_eval_step,
            "final_eval": None,
            "stop_reason": None,
            "error": None,
            "started_at": self.started_at,
            "updated_at": _now(),
            "pid": os.getpid(),
        }
        summary.update(extra)
        try:
            runs.atomic_write_json(self.path / runs.SUMMARY_NAME, summary)
        except OSError:
            if not best_effort:
                raise
        return summary


@contextlib.contextmanager
def _graceful_signals(session: _Session) -> Iterator[None]:
    """SIGINT/SIGTERM ask the loop to stop after the current step (then a checkpoint is saved); a second signal
    stops at once. Only the main thread can install handlers: elsewhere signals keep their usual meaning."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if session.stop_signal is not None:
            exc = KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping at once")
            exc.signum = signum  # type: ignore[attr-defined]
            raise exc
        session.stop_signal = signum
        with contextlib.suppress(Exception):
            session.reporter.event(
                f"{signal.Signals(signum).name} received: finishing the current update, then saving "
                "checkpoints/last (send it again to stop at once)"
            )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------------------------------- evaluate
def evaluate(
    run_dir: str | os.PathLike,
    episodes: int = 10,
    checkpoint: str | os.PathLike | None = None,
    seed: int | None = None,
    deterministic: bool = True,
    video_dir: str | os.PathLike | None = None,
) -> dict:
    """Evaluate a run's checkpoint (`best`, `last`, a path; default best, else last) for `episodes` episodes on
    a fresh env seeded `seed` (default: the run's seed + 20000). Writes `run_dir/eval.json`; returns the same.
    `video_dir`: also record each episode there as an mp4 (gymnasium's RecordVideo; the [video] extra)."""
    from neurenix.rl import load_agent
    from neurenix.rl.environment import make_env

    path = Path(run_dir)
    config_path = path / runs.CONFIG_NAME
    if not config_path.is_file():
        raise runs.RunDirError(
            f"{path} is not a run directory (no {runs.CONFIG_NAME}); pass a directory that "
            "`neurenix train` created (`neurenix list runs` shows them)."
        )
    if episodes < 1:
        raise runs.RunDirError(f"--episodes must be at least 1, got {episodes}.")
    cfg = config_mod.read_yaml(config_path)
    env_cfg = cfg.get("env") or {}
    train_cfg = cfg.get("train") or {}
    ckpt = _checkpoint_dir(path, checkpoint)
    agent = load_agent(str(ckpt))
    check_checkpoint_fits(agent, ckpt, path, cfg)
    seed = int(cfg.get("seed") or 0) + EVAL_CLI_SEED_OFFSET if seed is None else seed
    if video_dir is None:
        env = make_env(env_cfg.get("id"), n_envs=1, seed=seed, **(env_cfg.get("kwargs") or {}))
    else:
        from neurenix.rl.environment import VecEnv
        from neurenix_cli.video import recording_env

        # The same single env make_env builds, seeded the same way, only rendering and recording.
        env = VecEnv(
            [recording_env(env_cfg.get("id"), env_cfg.get("kwargs") or {}, video_dir, episodes)], seed=seed
        )
    try:
        rewards = [
            float(r)
            for r in agent.evaluate(
                env, episodes=episodes, deterministic=deterministic, max_steps=train_cfg.get("max_steps")
            )
        ]
    finally:
        env.close()
    result = {
        "mean_reward": statistics.fmean(rewards),
        "std_reward": statistics.pstdev(rewards) if len(rewards) > 1 else 0.0,
        "min_reward": min(rewards),
        "max_reward": max(rewards),
        "episodes": len(rewards),
        "rewards": rewards,
        "checkpoint": str(ckpt),
        "checkpoint_steps": agent.total_steps,
        "deterministic": deterministic,
        "seed": seed,
        "run_dir": str(path),
        "env_id": env_cfg.get("id"),
    }
    if video_dir is not None:
        from neurenix_cli.video import videos_of

        result["videos"] = videos_of(video_dir, episodes)
    runs.atomic_write_json(path / "eval.json", result)
    return result


def _checkpoint_dir(run_dir: Path, checkpoint: str | os.PathLike | None) -> Path:
    if checkpoint is None:
        for name in ("best", "last"):
            found = runs.resolve_checkpoint(run_dir / "checkpoints" / name)
            if found is not None:
                return found
        raise runs.RunDirError(
            f"{run_dir} has no checkpoint yet (checkpoints/best and checkpoints/last are "
            "missing): the run stopped before saving one. Resume it or train again."
        )
    if str(checkpoint) in ("best", "last"):
        found = runs.resolve_checkpoint(run_dir / "checkpoints" / str(checkpoint))
        if found is None:
            other = "last" if str(checkpoint) == "best" else "best"
            raise runs.RunDirError(f"{run_dir} has no checkpoints/{checkpoint}; try --checkpoint {other}.")
        return found
    path = Path(checkpoint)
    if not path.exists() and (run_dir / path).exists():
        path = run_dir / path
    if not path.is_dir():
        raise runs.RunDirError(
            f"checkpoint {checkpoint} is not a directory; pass best, last, or a directory "
            "holding arrays.npz and meta.json."
        )
    return path


def check_checkpoint_fits(agent: Any, checkpoint: Path, run_dir: Path, config: dict) -> None:
    """Refuse a checkpoint of another algorithm, other spaces or other hyperparameters than the run's config
    (a file copied over from another run): evaluating or continuing it would measure or train something else
    than what the run's config.yaml says. Raises CheckpointError (exit 1)."""
    from neurenix.errors import CheckpointError
    from neurenix.rl.spaces import to_spec

    differences = []
    algorithm = str(config.get("algorithm", "")).lower()
    if agent.algorithm != algorithm:
        differences.append(f"algorithm {agent.algorithm} (the run's: {algorithm})")
    for label in ("observation", "action"):
        wanted = (config.get("spaces") or {}).get(label)
        space = getattr(agent, f"{label}_space", None)
        found = config_mod.plain(to_spec(space)) if space is not None else None
        if wanted is not None and found != wanted:
            differences.append(f"{label} space {_space(found)} (the run's: {_space(wanted)})")
    if not differences:  # the same algorithm: its hyperparameters are comparable key by key
        saved = json.loads(json.dumps(config_mod.plain(agent.hyperparameters())))
        wanted = {**(config.get("agent") or {}), "n_envs": (config.get("env") or {}).get("n_envs")}
        for key in sorted(saved.keys() & wanted.keys()):
            if wanted[key] is not None and saved[key] != wanted[key]:
                differences.append(f"agent.{key} = {saved[key]!r} (the run's: {wanted[key]!r})")
    if differences:
        raise CheckpointError(
            f"Checkpoint {checkpoint} does not belong to run {run_dir}: it has {'; '.join(differences[:3])}. "
            "Was it copied from another run? Use the run's own checkpoints, or that run's directory."
        )


def _space(spec: Any) -> str:
    """`discrete(2)`, `box[4]`: enough to tell two spaces apart in a message (bounds would fill the line)."""
    if not isinstance(spec, dict):
        return repr(spec)
    if spec.get("type") == "discrete":
        return f"discrete({spec.get('n')})"
    return f"{spec.get('type')}{list(spec.get('shape') or [])}"


# ----------------------------------------------------------------------------------------------------- helpers
def _mid_rollout(agent: Any) -> bool:
    """Whether an on-policy agent holds a partly collected rollout (which its checkpoint would not keep)."""
    buffer = getattr(agent, "buffer", None)
    return isinstance(buffer, RolloutBuffer) and 0 < buffer.position < buffer.n_steps


def _next_multiple(step: int, every: int) -> int:
    """The first multiple of `every` after `step` (with n_envs > 1 steps jump by n_envs, hence `>=` checks)."""
    return (step // every + 1) * every if every else 0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

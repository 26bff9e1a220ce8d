"""The importable entry points: exactly what `neurenix train` and `neurenix eval` run.

    from neurenix_cli.config import load_prepared
    from neurenix_cli.experiment import train, evaluate
    summary = train(load_prepared("configs/dqn_cartpole.yaml", ["train.total_steps=20000"]), "runs/trial_1")
    result = evaluate(summary["run_dir"], episodes=100)
    resume("runs/trial_1", overrides=["train.total_steps=40000"])  # the finished run, on to a larger budget
    train(load_prepared("configs/dqn_cartpole.yaml"), "runs/tuned", init_from="runs/trial_1")  # its weights

`train` validates the config (a plain dict, e.g. from Optuna; a `Prepared` one, validated with its agent
built, is trained as it is), creates and locks the run directory, trains
through the agent's callbacks, writes every file of the run directory, and returns the summary. A run stopped by
SIGINT/SIGTERM saves `checkpoints/last`, is marked `interrupted`, and raises `RunInterrupted` (a
KeyboardInterrupt) carrying the summary; a run that fails is marked `failed` and the error propagates.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import os
import statistics
from pathlib import Path
from typing import Any

from neurenix_cli import budget, run_dir_checks, runs
from neurenix_cli import config as config_mod
from neurenix_cli.init_from import INIT_FROM_NAME, InitialWeights
from neurenix_cli.numbers import rounded, thousands
from neurenix_cli.reporting import Reporter
from neurenix_cli.session.loop import RunInterrupted, Session
from neurenix_cli.session.state import RunCallback

__all__ = [
    "Resumption",
    "RunInterrupted",
    "check_checkpoint_fits",
    "check_resume",
    "evaluate",
    "initial_weights",
    "resume",
    "save_evaluation",
    "train",
]

# `neurenix eval` without --seed: reproducible, and apart from the training envs' seeds and the in-training
# evaluation's (session/evaluation.py's EVAL_SEED_OFFSET)
EVAL_CLI_SEED_OFFSET = 20_000
EVAL_NAME = "eval.json"  # the latest `neurenix eval` result, in the run directory


# ----------------------------------------------------------------------------------------------------- train
def train(
    config: dict | config_mod.Prepared,
    run_dir: str | os.PathLike | None = None,
    reporter: Reporter | None = None,
    *,
    runs_root: str | os.PathLike = "runs",
    log_interval_s: float = 10.0,
    init_from: str | os.PathLike | InitialWeights | None = None,
    callbacks: collections.abc.Sequence[RunCallback] = (),
) -> dict:
    """Train one run of `config` into `run_dir` (default: a new `runs_root/<algo>_<env>_<time>`); return the
    summary dict (also written to `run_dir/summary.json`). `config` is a plain dict, validated here, or what
    `config.load_prepared` returned, whose agent is trained as it is. `init_from`: a run or checkpoint
    directory (see `initial_weights`) whose weights the run starts from. `callbacks`: more of the session's
    callbacks (`neurenix tune`'s pruning hook), called after the run's own."""
    if not isinstance(config, config_mod.Prepared):
        config = config_mod.prepare({k: v for k, v in config.items() if k != "versions"})
    weights = initial_weights(init_from) if isinstance(init_from, (str, os.PathLike)) else init_from
    if weights is not None:
        weights.carry_into(config.agent)
    if run_dir is None:
        path = runs.create_run_dir(runs_root, config.config["algorithm"], config.config["env"]["id"])
    else:
        path = Path(run_dir)
        runs.make_dirs(path)
    with runs.RunLock(path):
        run_dir_checks.refuse_occupied(path)
        resolved = {**config.config, "versions": config_mod.versions()}
        runs.atomic_write_text(path / runs.CONFIG_NAME, config_mod.dump_yaml(resolved))
        if weights is not None:
            runs.atomic_write_json(path / INIT_FROM_NAME, weights.record())
            # A run killed before its first periodic checkpoint resumes from these weights, not from fresh ones.
            runs.save_checkpoint(config.agent, path / "checkpoints" / "last")
        return Session(config.config, path, reporter, log_interval_s, tuple(callbacks)).run(
            agent=config.agent, previous=None
        )


def resume(
    run_dir: str | os.PathLike,
    reporter: Reporter | None = None,
    *,
    log_interval_s: float = 10.0,
    overrides: collections.abc.Sequence[str] = (),
) -> dict:
    """Continue an interrupted or killed run from `checkpoints/last` (from scratch if none was written) up to
    its configured budget. Metrics rows written after that checkpoint are dropped, so none are duplicated.

    `overrides` (`train.total_steps=N`, ...: budget keys only, see `budget`) give the run a new budget, which
    config.yaml then records: a completed run continues to it from its final checkpoint."""
    path = Path(run_dir)
    _refuse_not_a_run(path, overrides)
    with runs.RunLock(path, _writable_copy(path)):
        plan = _plan_resume(path, overrides)
        # A killed writer's temporaries are garbage now that we hold the lock, and would pile up run after run.
        runs.remove_leftovers(path)
        if plan.recorded is not None:
            runs.atomic_write_text(path / runs.CONFIG_NAME, config_mod.dump_yaml(plan.recorded))
        for name in ("metrics.csv", "updates.csv", "evals.csv"):
            runs.truncate_csv_after(path / name, plan.agent.total_steps)
        return Session(plan.config, path, reporter, log_interval_s).run(
            agent=plan.agent, previous=plan.previous
        )


@dataclasses.dataclass
class Resumption:
    """What a resume continues, found by reading only: the config (with its new budget), the agent (from
    `checkpoint`, or fresh when the run saved none), the summary it goes on from, and the config.yaml to
    record (None when the budget stays)."""

    config: dict
    agent: Any
    checkpoint: Path | None
    previous: dict
    recorded: dict | None


def check_resume(run_dir: str | os.PathLike, overrides: collections.abc.Sequence[str] = ()) -> Resumption:
    """Everything `resume` refuses, found without writing anything or taking the run's lock (`train --resume
    RUN --check`): the same checks, so a run that passes resumes (unless it changes in between)."""
    path = Path(run_dir)
    _refuse_not_a_run(path, overrides)
    run_dir_checks.check_resumable(path, _writable_copy(path))
    return _plan_resume(path, overrides)


def _refuse_not_a_run(path: Path, overrides: collections.abc.Sequence[str]) -> None:
    """Checked before the lock is taken, so that nothing is written into a directory that is not a run."""
    if not (path / runs.CONFIG_NAME).is_file():
        raise runs.RunDirError(runs.not_a_run(path, lambda run, _: _resume_command(run, overrides)))
    budget.check_budget_keys(overrides, str(path / runs.CONFIG_NAME), path)


def _writable_copy(path: Path) -> str:
    """A resumed run writes into its own directory, and --resume takes no --runs-root: a copy is what works."""
    return f"Resume a writable copy: `cp -r {path} COPY && neurenix train --resume COPY`"


def _plan_resume(path: Path, overrides: collections.abc.Sequence[str]) -> Resumption:
    """The checks and reads `resume` and `check_resume` share; the caller holds the run's lock or probed it."""
    from neurenix.rl import load_agent

    config_path = path / runs.CONFIG_NAME
    raw = config_mod.read_yaml(config_path)
    started_with = raw.pop("versions", None)
    raw, origins = config_mod.apply_overrides(raw, overrides, source=str(config_path))
    prepared = config_mod.prepare(raw, source=str(config_path), origins=origins)
    config = prepared.config
    previous = runs.read_summary(path) or {}
    if previous.get("status") == "completed" and not overrides:
        steps = previous.get("total_steps")
        raise runs.RunDirError(
            f"{path} already completed ({thousands(steps)} steps); nothing to resume. To continue it to a larger "
            f"budget, give the new total: `neurenix train --resume {path} --set train.total_steps=N` "
            f"with N above {thousands(steps)}; or start a new run from its weights: `neurenix train CONFIG "
            f"--init-from {path}`."
        )
    checkpoint = runs.resolve_checkpoint(path / "checkpoints" / "last")
    if checkpoint is not None:
        agent = load_agent(str(checkpoint))
        check_checkpoint_fits(agent, checkpoint, path, config)
    else:  # killed before its first checkpoint: start over with the agent validation built
        agent, previous = prepared.agent, {}
    recorded = None
    if overrides:
        budget.check_budget_left(config, agent, str(config_path), origins)
        recorded = config if started_with is None else {**config, "versions": started_with}
    return Resumption(config, agent, checkpoint, previous, recorded)


def _resume_command(run: Path | str, overrides: collections.abc.Sequence[str]) -> str:
    """A run resumes from its own checkpoints/last, whichever of its checkpoints was named."""
    import shlex

    return shlex.join(
        ["neurenix", "train", "--resume", str(run), *(a for text in overrides for a in ("--set", text))]
    )


def initial_weights(source: str | os.PathLike) -> InitialWeights:
    """The weights `--init-from SOURCE` starts a run from: a run directory's checkpoints/best (else last), or
    a checkpoint directory (`RUN/checkpoints/last`, or the `.previous` copy a crash mid-swap left)."""
    from neurenix.checkpoint import META_FILE
    from neurenix.rl import load_agent

    path = Path(source)
    if (path / runs.CONFIG_NAME).is_file():
        checkpoint = _checkpoint_dir(path, None)
    else:
        checkpoint = runs.resolve_checkpoint(path)
        if checkpoint is None or not (checkpoint / META_FILE).is_file():
            problem = (
                "does not exist"
                if checkpoint is None
                else f"is neither a run directory (no {runs.CONFIG_NAME}) nor a checkpoint (no {META_FILE})"
            )
            raise runs.RunDirError(
                f"--init-from {source} {problem}. Give a run directory `neurenix train` created (its best "
                "checkpoint is used, else its last) or one of its checkpoints, e.g. RUN/checkpoints/last."
            )
    return InitialWeights(checkpoint, load_agent(str(checkpoint)))


# ----------------------------------------------------------------------------------------------------- evaluate
def evaluate(
    run_dir: str | os.PathLike,
    episodes: int = 10,
    checkpoint: str | os.PathLike | None = None,
    seed: int | None = None,
    deterministic: bool = True,
    video_dir: str | os.PathLike | None = None,
    save: bool = True,
) -> dict:
    """Evaluate a run's checkpoint (`best`, `last`, a path; default best, else last) for `episodes` episodes on
    a fresh env seeded `seed` (default: the run's seed + 20000). Returns the result and, with `save`, writes it
    to `run_dir/eval.json` (`save_evaluation`). `video_dir`: also record each episode there as an mp4
    (gymnasium's RecordVideo; the [video] extra)."""
    from neurenix.rl import load_agent
    from neurenix_cli import envs

    path = Path(run_dir)
    config_path = path / runs.CONFIG_NAME
    if not config_path.is_file():
        raise runs.RunDirError(runs.not_a_run(path, _eval_command))
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
        env = envs.make(env_cfg, str(config_path), n_envs=1, seed=seed)
    else:
        from neurenix.rl.environment import VecEnv
        from neurenix_cli.config.messages import Checker
        from neurenix_cli.video import recording_env

        # The same single env envs.make builds, seeded the same way, only rendering and recording.
        wrappers = envs.load(env_cfg, Checker(str(config_path)))
        env = VecEnv(
            [recording_env(env_cfg.get("id"), env_cfg.get("kwargs") or {}, video_dir, episodes, wrappers)],
            seed=seed,
            action_mask_key=env_cfg.get("action_mask_key"),
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
    result = rounded(
        {
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
    )
    if video_dir is not None:
        from neurenix_cli.video import videos_of

        result["videos"] = videos_of(video_dir, episodes)
    if save:
        save_evaluation(result)
    return result


def save_evaluation(result: dict) -> None:
    """Write an `evaluate` result to its run's eval.json. An OSError (a read-only run directory, a full disk)
    propagates for the caller to report, with the result still in hand."""
    runs.atomic_write_json(Path(result["run_dir"]) / EVAL_NAME, result)


def _eval_command(run: Path | str, checkpoint: str | None) -> str:
    """A checkpoint is evaluated through its run (`--checkpoint`), whose config.yaml rebuilds env and agent."""
    return f"neurenix eval {run}" + (f" --checkpoint {checkpoint}" if checkpoint else "")


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
    if spec.get("type") == "dict":
        return f"dict({', '.join(spec.get('spaces') or {})})"
    if spec.get("type") == "tuple":
        return f"tuple({', '.join(_space(part) for part in spec.get('spaces') or [])})"
    if spec.get("type") == "multi_discrete":
        return f"multi_discrete{spec.get('nvec')}"
    return f"{spec.get('type')}{list(spec.get('shape') or [])}"

"""`neurenix tune`: an Optuna study over a config's `search:` block, each trial one normal run per seed.

    from neurenix_cli import tuning
    plan = tuning.plan("configs/dqn_cartpole.yaml", runs_root="runs", seeds_per_trial=2)
    study = tuning.open_study(plan)
    tuning.optimize(plan, study, n_trials=20)
    tuning.write_best(plan, study)

The search space is validated against the algorithm's hyperparameter record before any trial runs (a bad block
is a ConfigFileError naming the file and key, exit 2). Each trial's seeds train by `experiment.train` into
`STUDY_DIR/trial-<number>-seed<n>/`, so `show`, `eval` and `list` work on them as on any run. The study lives in
Optuna's RDB storage (by default `sqlite:///STUDY_DIR/study.db`): running the same command again loads it and
runs only the trials still missing.

Which trials count toward `--trials N`: COMPLETE, PRUNED, and FAIL trials that failed on their own (a diverged
or rejected run, `outcome: failed`). A trial stopped by Ctrl-C (`outcome: interrupted`) or left RUNNING by a
process that died (a `kill -9`; marked FAIL by the next process of this host to look, with no outcome) does not
count: a new trial takes its place, so a study killed and resumed still ends with N trials that ran to their end.

Several processes can share a study (`--workers K` on one machine, or the same command with one `--storage
postgresql://...` on many): each asks for a trial only while the counted and running trials number fewer than N,
and a trial asked for by two processes at once beyond the N-th is told FAIL as `outcome: surplus` before it runs
(hidden from the tables). A RUNNING trial of another host is taken to be alive: a machine that died mid-trial
leaves it RUNNING until that host runs the command again.

Only this module and `commands/tune.py` import Optuna, and only when tuning runs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import socket
import statistics
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurenix.errors import PicklableError
from neurenix_cli import runs
from neurenix_cli.config.messages import Checker, ConfigFileError, did_you_mean, show
from neurenix_cli.config.types import coerce, plain
from neurenix_cli.numbers import rounded

DISTRIBUTIONS = (
    "uniform",
    "log_uniform",
    "int_uniform",
    "int_log_uniform",
    "one_minus_log_uniform",
    "choice",
)
SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "halving", "none")
BEST_NAME = "best.yaml"
DB_NAME = "study.db"
# Trial outcomes recorded by this module (the trial's user attribute `outcome`).
FAILED, INTERRUPTED, SURPLUS = "failed", "interrupted", "surplus"
# A RUNNING trial with no process recorded yet is abandoned once it is this old (seconds): its process was killed
# between Optuna's ask and the attributes written just after it.
UNCLAIMED_SECONDS = 60.0


class TuneInterrupted(PicklableError, KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the study; the trials that finished are in its storage."""

    def __init__(self, signum: int):
        super().__init__(f"tuning interrupted by signal {signum}")
        self.signum = signum


# ----------------------------------------------------------------------------------------------- search space
@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched key: `agent.<hyperparameter>` and how its values are drawn."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    power_of_two: bool = False

    @property
    def param(self) -> str:
        """The name Optuna records the draw under (it differs from the key where the draw is not the value)."""
        if self.kind == "one_minus_log_uniform":
            return f"1 - {self.key}"
        if self.power_of_two:
            return f"log2 {self.key}"
        return self.key

    def sample(self, trial: Any) -> Any:
        """Draw this key's value for an Optuna trial."""
        if self.kind == "choice":
            # Optuna's categorical choices are scalars; lists (hidden_dims) go through as their JSON text.
            return json.loads(trial.suggest_categorical(self.param, [json.dumps(c) for c in self.choices]))
        if self.power_of_two:
            exponent = trial.suggest_int(self.param, int(math.log2(self.low)), int(math.log2(self.high)))
            return 2**exponent
        if self.kind in ("int_uniform", "int_log_uniform"):
            return trial.suggest_int(
                self.param, int(self.low), int(self.high), log=self.kind == "int_log_uniform"
            )
        if self.kind == "one_minus_log_uniform":
            return 1.0 - trial.suggest_float(self.param, self.low, self.high, log=True)
        return trial.suggest_float(self.param, self.low, self.high, log=self.kind == "log_uniform")


def default_search(cls: type) -> dict:
    """A small space for an algorithm without a `search:` block, in the spirit of RL Zoo's samplers: the
    learning rates, gamma, the batch size and the networks' width, for the keys the algorithm has."""
    from neurenix_cli.config.validation import agent_parameters

    params = agent_parameters(cls)
    space: dict[str, dict] = {}
    for name in ("learning_rate", "actor_learning_rate", "critic_learning_rate"):
        if name in params:
            space[f"agent.{name}"] = {"log_uniform": [1.0e-5, 1.0e-2]}
    if "gamma" in params:
        space["agent.gamma"] = {"one_minus_log_uniform": [1.0e-3, 1.0e-1]}  # 0.9 .. 0.999
    if "batch_size" in params:
        space["agent.batch_size"] = {"choice": [32, 64, 128, 256]}
    for name in ("hidden_dims", "actor_hidden_dims", "critic_hidden_dims"):
        if name in params:
            space[f"agent.{name}"] = {"choice": [[64, 64], [256, 256]]}
    return space


def parse_search(search: Any, cls: type, check: Checker) -> list[Dimension]:
    """Validate a `search:` block against the algorithm's hyperparameter record; every problem is a
    ConfigFileError at `search.<key>`."""
    from neurenix_cli.config.validation import agent_parameters

    params = agent_parameters(cls)
    search = check.mapping(search, "search")
    if not search:
        raise check.error(
            "search",
            "is empty.",
            "Give at least one key, e.g. `agent.learning_rate: {log_uniform: [1e-5, 1e-2]}`.",
        )
    valid = [f"agent.{name}" for name in params]
    dims = []
    for key, spec in search.items():
        path = f"search.{key}"
        if not key.startswith("agent.") or key[len("agent.") :] not in params:
            raise check.error(
                path,
                "is not a hyperparameter of this algorithm.",
                did_you_mean(key, valid) + f" Searchable keys: {', '.join(valid)}.",
            )
        dims.append(_dimension(key, spec, params[key[len("agent.") :]], path, check))
    return dims


def _dimension(key: str, spec: Any, field: Any, path: str, check: Checker) -> Dimension:
    example = "e.g. `{log_uniform: [1.0e-5, 1.0e-2]}` or `{choice: [64, 128]}`"
    if not isinstance(spec, dict):
        raise check.error(path, f"must be a distribution mapping, got {show(spec)}.", f"Write {example}.")
    options = {k: v for k, v in spec.items() if k != "power_of_two"}
    if len(options) != 1:
        raise check.error(
            path,
            f"needs exactly one distribution, got {', '.join(map(str, options)) or 'none'}.",
            f"Write one of {', '.join(DISTRIBUTIONS)}, {example}.",
        )
    ((kind, value),) = options.items()
    if kind not in DISTRIBUTIONS:
        raise check.error(
            path,
            f"{show(kind)} is not a distribution.",
            (did_you_mean(str(kind), DISTRIBUTIONS) + f" Use one of {', '.join(DISTRIBUTIONS)}.").strip(),
        )
    power_of_two = spec.get("power_of_two", False)
    if not isinstance(power_of_two, bool) or (
        power_of_two and kind not in ("int_uniform", "int_log_uniform")
    ):
        raise check.error(
            f"{path}.power_of_two",
            "is true or false, and only for int_uniform or int_log_uniform.",
            "Remove it, or use it with an integer distribution.",
        )
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise check.error(f"{path}.choice", f"must be a non-empty list, got {show(value)}.")
        choices = tuple(plain(_checked(field, c, f"{path}.choice", check)) for c in value)
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise check.error(f"{path}.choice", "lists a value twice.", "List each value once.")
        return Dimension(key, kind, choices=choices)
    where = f"{path}.{kind}"
    if not isinstance(value, list) or len(value) != 2:
        raise check.error(where, f"must be [low, high], got {show(value)}.", f"Write e.g. `{kind}: [1, 10]`.")
    integer = kind.startswith("int_")
    try:
        low, high = (coerce(v, int if integer else float) for v in value)
    except TypeError:
        wanted = "integers" if integer else "numbers"
        raise check.error(where, f"bounds must be {wanted}, got {show(value)}.") from None
    if not low < high:
        raise check.error(
            where, f"low ({low!r}) must be below high ({high!r}).", "Write the smaller bound first."
        )
    if "log" in kind and low <= 0:
        raise check.error(where, f"a log scale needs low > 0, got {low!r}.", "Use a positive low bound.")
    wanted_type = field.value_type
    if integer and wanted_type is not int:
        raise check.error(
            path, f"{kind} draws integers, but {key} is not an integer.", "Use uniform or choice."
        )
    if not integer and wanted_type is not float:
        raise check.error(
            path,
            f"{kind} draws real numbers, but {key} is not one.",
            "Use int_uniform / int_log_uniform for an integer, choice otherwise.",
        )
    if power_of_two and any(v < 1 or v & (v - 1) for v in (low, high)):
        raise check.error(where, f"with power_of_two, both bounds must be powers of two, got {[low, high]}.")
    if kind == "one_minus_log_uniform":
        if high >= 1:
            raise check.error(where, f"draws 1 - x for x in [low, high]; high must be below 1, got {high!r}.")
        extremes = (1.0 - high, 1.0 - low)
    else:
        extremes = (low, high)
    for bound in extremes:
        _checked(field, bound, where, check)
    return Dimension(
        key,
        kind,
        float(low) if not integer else low,
        float(high) if not integer else high,
        power_of_two=power_of_two,
    )


def _checked(field: Any, value: Any, path: str, check: Checker) -> Any:
    """`value` in the field's type and declared range, else a config error at `path`."""
    value = check.typed(value, field.annotation, path)
    spec = field.spec
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        too_low = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
        too_high = spec.high is not None and value > spec.high
        if too_low or too_high:
            low = "-inf" if spec.low is None else f"{spec.low:g}"
            high = "inf" if spec.high is None else f"{spec.high:g}"
            interval = f"{'(' if spec.low_open else '['}{low}, {high}]"
            raise check.error(
                path,
                f"{value!r} is outside agent.{field.name}'s range {interval}.",
                "Keep the bounds inside it.",
            )
    if spec.choices is not None and isinstance(value, str) and value not in spec.choices:
        raise check.error(path, f"{value!r} is not one of {', '.join(spec.choices)}.")
    return value


# ----------------------------------------------------------------------------------------------------- the plan
@dataclasses.dataclass
class Plan:
    """A validated study: the base config (no search block), its search space, where it lives, how trials run."""

    name: str
    directory: Path
    storage: str
    config_path: str
    base: dict  # the config as written, without its search block: what trials and best.yaml start from
    resolved: dict  # the base validated, defaults filled in
    search: dict  # the search block as given (or the default space): it identifies the study's space
    dims: list[Dimension]
    seeds_per_trial: int = 1
    sampler: str = "tpe"
    pruner: str = "median"
    shared: bool = False  # the storage was given (--storage): other machines' processes may be on the study

    @property
    def seeds(self) -> list[int]:
        first = int(self.resolved["seed"])
        return list(range(first, first + self.seeds_per_trial))


def plan(
    config_path: str | os.PathLike,
    *,
    name: str | None = None,
    storage: str | None = None,
    runs_root: str | os.PathLike = "runs",
    seeds_per_trial: int = 1,
    sampler: str = "tpe",
    pruner: str = "median",
) -> Plan:
    """Read and validate the config and its search space (the base config is prepared as `train` would,
    env and agent built once); nothing is written."""
    from neurenix.rl import registry
    from neurenix_cli.config import prepare, read_yaml

    source = str(config_path)
    raw = read_yaml(config_path)
    search = raw.pop("search", None)
    resolved = prepare(raw, source=source).config  # the config without its search block must be a valid one
    cls = registry.get(resolved["algorithm"])
    check = Checker(source)
    if search is None:
        search = default_search(cls)
    dims = parse_search(search, cls, check)
    if sampler not in SAMPLERS:
        raise ConfigFileError(
            source, "", f"--sampler {sampler!r} is not a sampler.", f"Use {' or '.join(SAMPLERS)}."
        )
    if pruner not in PRUNERS:
        raise ConfigFileError(
            source, "", f"--pruner {pruner!r} is not a pruner.", f"Use {' or '.join(PRUNERS)}."
        )
    if seeds_per_trial < 1:
        raise ConfigFileError(source, "", "--seeds-per-trial must be at least 1.")
    if not resolved["train"]["eval_episodes"]:
        raise check.error(
            "train.eval_episodes",
            "is 0: a trial's value is its final evaluation's mean return, and there would be none.",
            "Set train.eval_episodes to 1 or more.",
        )
    name = name or Path(source).stem
    directory = Path(runs_root) / f"tune-{runs.slug(name)}"
    shared = storage is not None
    storage = storage or f"sqlite:///{directory / DB_NAME}"
    return Plan(
        name,
        directory,
        storage,
        source,
        raw,
        resolved,
        plain(search),
        dims,
        seeds_per_trial,
        sampler,
        pruner,
        shared,
    )


# ----------------------------------------------------------------------------------------------------- the study
def _optuna() -> Any:
    from neurenix_cli.extras import require

    optuna = require("optuna", "tune", "neurenix tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial says what finished
    return optuna


def rdb_storage(plan: Plan) -> Any:
    """Optuna's RDB storage for the plan's URL; SQLite waits up to a minute for another process's write (a
    study shared by --workers) rather than failing at once.

    Processes started together on a new database (the same command on two machines) both create Optuna's
    tables; on PostgreSQL the one that loses gets a unique-key or duplicate-object error once the other's
    tables are committed, and finds them when it opens the storage again."""
    import time

    import sqlalchemy.exc

    optuna = _optuna()
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": 60}}} if plan.storage.startswith("sqlite") else {}
    for _ in range(2):
        try:
            return optuna.storages.RDBStorage(plan.storage, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            time.sleep(0.5)
    return optuna.storages.RDBStorage(plan.storage, **kwargs)  # a third error is the one reported


def open_study(plan: Plan, worker: int = 0) -> Any:
    """Create the study, or load it when it exists (a re-run resumes it); refuse one whose search space,
    seeds or base config differ, since its trials would not be comparable with the new ones. `worker` numbers
    the local processes of one `--workers K` command."""
    optuna = _optuna()
    runs.make_dirs(plan.directory)
    the_storage = rdb_storage(plan)
    existing = len(_existing_trials(optuna, plan, the_storage))
    # Seeded by the config's seed and the trials already run: reproducible for one process, and a resumed study
    # does not draw its first trials' parameters again. Processes that share the study draw apart (their trials'
    # order depends on timing anyway): by worker number, and by host and pid on a storage of --storage.
    seed = int(plan.resolved["seed"]) + existing + 1009 * worker
    if plan.shared:
        seed += zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
    parallel = plan.shared or worker > 0
    study = optuna.create_study(
        study_name=plan.name,
        storage=the_storage,
        sampler=_sampler(optuna, plan.sampler, seed % 2**32, parallel),
        pruner=_pruner(optuna, plan),
        direction="maximize",
        load_if_exists=True,
    )
    identity = {"search": plan.search, "seeds_per_trial": plan.seeds_per_trial, "config": plain(plan.base)}
    recorded = {k: study.user_attrs.get(k) for k in identity}
    if all(v is None for v in recorded.values()):
        for k, v in identity.items():
            study.set_user_attr(k, v)
    else:
        differ = [
            k
            for k in identity
            if json.dumps(recorded[k], sort_keys=True) != json.dumps(identity[k], sort_keys=True)
        ]
        if differ:
            raise ConfigFileError(
                plan.config_path,
                "",
                f"study {plan.name!r} ({plan.storage}) was started with another {' and '.join(differ)}; its "
                "trials would not compare with new ones.",
                "Keep the config as it was to continue that study, or start a new one with --study NAME.",
            )
    runs.atomic_write_json(
        plan.directory / runs.STUDY_NAME,
        {"study": plan.name, "storage": plan.storage, "config": plan.config_path},
    )
    return study


def _sampler(optuna: Any, name: str, seed: int, parallel: bool) -> Any:
    import warnings

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # constant_liar is "experimental" in Optuna's words
        warnings.simplefilter("ignore")
        if name == "cmaes":
            # CMA-ES draws numbers only; a `choice:` dimension falls back to random draws, as Optuna warns.
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        # The constant liar: trials still running count as bad ones, so parallel processes do not all draw the
        # same promising point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)


def _pruner(optuna: Any, plan: Plan) -> Any:
    total = plan.resolved["train"]["total_steps"] or 0
    if plan.pruner == "median":
        # RL Zoo's choice: no pruning before a few trials have finished, nor in the first third of a run.
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=total // 3)
    if plan.pruner == "halving":
        # Successive halving (ASHA): at each rung, a trial continues only if it is in the best third so far; the
        # first rung is the first evaluation (train.eval_every steps).
        rung = plan.resolved["train"]["eval_every"] or max(total // 3, 1)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=rung, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _existing_trials(optuna: Any, plan: Plan, the_storage: Any) -> list:
    try:
        return optuna.load_study(study_name=plan.name, storage=the_storage).get_trials(deepcopy=False)
    except KeyError:  # no such study yet
        return []


def counted(trial: Any) -> bool:
    """Whether a trial counts toward --trials N (see the module's docstring)."""
    state = trial.state.name
    return state in ("COMPLETE", "PRUNED") or (state == "FAIL" and trial.user_attrs.get("outcome") == FAILED)


def mark_abandoned(study: Any) -> list[int]:
    """Mark FAIL the RUNNING trials of this host whose process is gone (killed mid-trial): they count for
    nothing and a new trial takes their place. Call it between trials only. Returns their numbers."""
    import datetime

    optuna = _optuna()
    host = socket.gethostname()
    now = datetime.datetime.now()
    abandoned = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        # Our own pid on a RUNNING trial is a dead process's, reused: between our trials we run none.
        if (
            "pid" not in trial.user_attrs
            and trial.datetime_start is not None
            and (now - trial.datetime_start).total_seconds() > UNCLAIMED_SECONDS
        ) or (
            trial.user_attrs.get("host") == host
            and isinstance(pid, int)
            and (pid == os.getpid() or not runs.pid_alive(pid))
        ):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            abandoned.append(trial.number)
    return abandoned


def set_path(config: dict, dotted: str, value: Any) -> None:
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def trial_config(plan: Plan, values: dict[str, Any]) -> dict:
    config = copy.deepcopy(plan.base)
    for key, value in values.items():
        set_path(config, key, value)
    return config


def run_dir(plan: Plan, number: int, seed: int) -> Path:
    return plan.directory / f"trial-{number:04d}-seed{seed}"


def run_trial(plan: Plan, study: Any, trial: Any) -> dict:
    """Train the trial's seeds one after the other and tell the study its outcome: the mean final evaluation
    (COMPLETE), PRUNED when the pruner stopped its first seed, FAIL when a run failed. A Ctrl-C marks it
    FAIL as interrupted (not counted) and raises TuneInterrupted."""
    from neurenix_cli import experiment
    from neurenix_cli.session.pruning import PRUNED, Pruning

    told = False

    def tell(state: str, value: float | None = None, **attrs: Any) -> dict:
        nonlocal told
        told = True
        return _tell(study, trial, state, value, values, dirs, **attrs)

    def report(step: int, mean: float) -> bool:
        trial.report(mean, step)
        return trial.should_prune()

    values: dict[str, Any] = {}
    dirs: list[str] = []
    try:
        values = {dim.key: dim.sample(trial) for dim in plan.dims}
        trial.set_user_attr("values", values)
        config = trial_config(plan, values)
        finals = []
        for i, seed in enumerate(plan.seeds):
            path = run_dir(plan, trial.number, seed)
            dirs.append(str(path))
            trial.set_user_attr("run_dirs", dirs)
            # The first seed's evaluations go to the pruner; the others' would repeat its steps.
            callbacks = (Pruning(report),) if i == 0 else ()
            try:
                summary = experiment.train({**config, "seed": seed}, path, callbacks=callbacks)
            except experiment.RunInterrupted as exc:
                tell("FAIL", outcome=INTERRUPTED)
                raise TuneInterrupted(exc.signum) from None
            except Exception as exc:
                return tell("FAIL", outcome=FAILED, error=f"{type(exc).__name__}: {exc}")
            if summary.get("stop_reason") == PRUNED:
                return tell("PRUNED", outcome="pruned", pruned_at=summary.get("total_steps"))
            if summary.get("final_eval") is None:
                return tell("FAIL", outcome=FAILED, error="the run made no final evaluation")
            finals.append(float(summary["final_eval"]))
        return tell("COMPLETE", rounded(statistics.fmean(finals)), outcome="complete", finals=finals)
    except BaseException as exc:
        if not told:
            with contextlib.suppress(Exception):
                tell("FAIL", outcome=INTERRUPTED)
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, TuneInterrupted):
            raise TuneInterrupted(getattr(exc, "signum", signal.SIGINT)) from None
        raise


def _tell(
    study: Any, trial: Any, state: str, value: float | None, values: dict, dirs: list, **attrs: Any
) -> dict:
    """Record a trial's end in the study; the outcome as `optimize`'s `on_done` gets it."""
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    if state == "COMPLETE":
        study.tell(trial, value)
    else:
        study.tell(trial, state=getattr(_optuna().trial.TrialState, state))
    return {
        "number": trial.number,
        "state": state,
        "value": value,
        "values": values,
        "run_dirs": dirs,
        **attrs,
    }


def optimize(
    plan: Plan, study: Any, n_trials: int, on_done: Callable[[dict, int], None] | None = None
) -> None:
    """Run trials while fewer than `n_trials` count (see `counted`) or run in other processes;
    `on_done(outcome, counted_so_far)` after each. The best config so far is written after every trial, so a
    kill leaves it on disk."""
    while True:
        mark_abandoned(study)
        if sum(counted(t) or t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False)) >= n_trials:
            return
        trial = claim(study, n_trials)
        if trial is None:
            return
        outcome = run_trial(plan, study, trial)
        write_best(plan, study)
        if on_done is not None:
            on_done(outcome, sum(counted(t) for t in study.get_trials(deepcopy=False)))


def claim(study: Any, n_trials: int) -> Any | None:
    """A new trial with this process's pid and host on it, or None (told FAIL as surplus) when trials asked for
    earlier, by any process, already make `n_trials`."""
    trial = study.ask()
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("host", socket.gethostname())
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    if sum(counted(t) or t.state.name == "RUNNING" for t in earlier) >= n_trials:
        trial.set_user_attr("outcome", SURPLUS)
        study.tell(trial, state=_optuna().trial.TrialState.FAIL)
        return None
    return trial


def optimize_on_ray(
    plan: Plan,
    study: Any,
    n_trials: int,
    address: str | None,
    parallel: int | None,
    on_done: Callable[[dict, int], None] | None = None,
) -> None:
    """`optimize` with each trial's seeds trained as Ray tasks (one CPU each, `sweeps.ray_train_job`), their
    run files brought back into the study directory, so no node needs the storage or a shared filesystem.
    `parallel` trials at once (None: as many as the cluster has CPUs, divided by the seeds per trial). The
    trials' evaluations reach the driver only at their end, so nothing is pruned."""
    from neurenix_cli import sweeps

    with sweeps.ray_session(address, "neurenix tune --ray") as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(sweeps.ray_train_job)
        if parallel is None:
            parallel = max(1, int(ray.cluster_resources().get("CPU", 1)) // plan.seeds_per_trial)
        pending: dict[Any, tuple[int, int]] = {}  # task -> (trial number, seed's index)
        live: dict[int, dict] = {}  # trial number -> its trial, values, dirs and summaries so far
        try:
            while True:
                while len(live) < parallel and (
                    sum(counted(t) or t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False))
                    < n_trials
                ):
                    trial = claim(study, n_trials)
                    if trial is None:
                        break
                    values = {dim.key: dim.sample(trial) for dim in plan.dims}
                    trial.set_user_attr("values", values)
                    config = trial_config(plan, values)
                    dirs = [str(run_dir(plan, trial.number, seed)) for seed in plan.seeds]
                    trial.set_user_attr("run_dirs", dirs)
                    live[trial.number] = {"trial": trial, "values": values, "dirs": dirs, "summaries": {}}
                    for i, seed in enumerate(plan.seeds):
                        pending[task.remote({**config, "seed": seed}, Path(dirs[i]).name)] = (trial.number, i)
                if not pending:
                    return
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                number, i = pending.pop(ready)
                entry = live[number]
                try:
                    summary = sweeps.unpack_ray_run(Path(entry["dirs"][i]), ray.get(ready))
                except Exception as exc:  # the task itself died (a node lost)
                    summary = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                entry["summaries"][i] = summary
                if len(entry["summaries"]) < plan.seeds_per_trial:
                    continue
                del live[number]
                state, value, attrs = _ray_outcome(entry)
                outcome = _tell(study, entry["trial"], state, value, entry["values"], entry["dirs"], **attrs)
                write_best(plan, study)
                if on_done is not None:
                    on_done(outcome, sum(counted(t) for t in study.get_trials(deepcopy=False)))
        except KeyboardInterrupt as exc:
            for ref in pending:
                ray.cancel(ref, force=True)
            for entry in live.values():
                _tell(
                    study, entry["trial"], "FAIL", None, entry["values"], entry["dirs"], outcome=INTERRUPTED
                )
            raise TuneInterrupted(getattr(exc, "signum", signal.SIGINT)) from None


def _ray_outcome(entry: dict) -> tuple[str, float | None, dict]:
    """A Ray trial's state, value and attributes from its seeds' summaries, as `run_trial` tells them."""
    summaries = [entry["summaries"][i] for i in sorted(entry["summaries"])]
    for summary in summaries:
        if summary.get("status") != "completed" or summary.get("final_eval") is None:
            error = summary.get("error") or "the run made no final evaluation"
            return "FAIL", None, {"outcome": FAILED, "error": error}
    finals = [float(s["final_eval"]) for s in summaries]
    return "COMPLETE", rounded(statistics.fmean(finals)), {"outcome": "complete", "finals": finals}


# ----------------------------------------------------------------------------------------------------- results
def best_trial(study: Any) -> Any | None:
    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None
    ]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def write_best(plan: Plan, study: Any) -> Path | None:
    """STUDY_DIR/best.yaml: the base config with the best trial's values, no search block; `neurenix train`
    takes it as it is."""
    from neurenix_cli.config import dump_yaml

    best = best_trial(study)
    if best is None:
        return None
    config = trial_config(plan, best.user_attrs.get("values") or {})
    header = (
        f"# The best trial of study {plan.name!r} ({plan.storage}): trial {best.number}, value {best.value:g}\n"
        f"# (mean final evaluation over seeds {','.join(map(str, plan.seeds))}), from {plan.config_path}.\n"
    )
    path = plan.directory / BEST_NAME
    runs.atomic_write_text(path, header + dump_yaml(plain(config)))
    return path


def load(
    study_ref: str | os.PathLike, storage: str | None = None, runs_root: str | os.PathLike = "runs"
) -> tuple[Any, Path]:
    """The study of a study directory (its study.json names the storage), or of a name under RUNS_ROOT."""
    optuna = _optuna()
    directory = Path(study_ref)
    if not (directory / runs.STUDY_NAME).is_file():
        directory = Path(runs_root) / f"tune-{runs.slug(str(study_ref))}"
    record_path = directory / runs.STUDY_NAME
    if not record_path.is_file() and (os.sep in str(study_ref) or Path(study_ref).exists()):
        raise runs.RunDirError(
            f"{study_ref} is not a study directory: it has no {runs.STUDY_NAME} (give the directory "
            "`neurenix tune` created, e.g. runs/tune-NAME, or the study's name)."
        )
    if not record_path.is_file():
        raise runs.RunDirError(
            f"{study_ref} is not a study: no {record_path} (give the directory `neurenix tune` created, "
            "e.g. runs/tune-NAME, or the study's name)."
        )
    record = json.loads(record_path.read_text(encoding="utf-8"))
    try:
        study = optuna.load_study(study_name=record["study"], storage=storage or record["storage"])
    except KeyError:
        raise runs.RunDirError(
            f"study {record['study']!r} is not in {storage or record['storage']}."
        ) from None
    return study, directory


def trials_table(study: Any) -> list[dict]:
    """Every trial, best value first (COMPLETE by value, then PRUNED, FAIL, RUNNING)."""
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "values": t.user_attrs.get("values") or {},
            "outcome": t.user_attrs.get("outcome"),
            "run_dirs": t.user_attrs.get("run_dirs") or [],
            "error": t.user_attrs.get("error"),
            "pruned_at": t.user_attrs.get("pruned_at"),
        }
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("outcome") != SURPLUS
    ]
    rows.sort(key=lambda r: (order.get(r["state"], 3), -(r["value"] or 0.0), r["number"]))
    return rows


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances over the complete trials ({} when there are too few to say)."""
    optuna = _optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 3:
        return {}
    import warnings

    try:
        with warnings.catch_warnings():  # "importances will be equal" on flat results: the numbers say it
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
        return {k: round(float(v), 4) for k, v in found.items()}
    except Exception:  # too few distinct values, a single parameter: nothing worth showing
        return {}


def study_json(study: Any, directory: Path) -> dict:
    """The study as one object for scripts. Measured figures (values, importances) have 6 significant digits;
    the sampled settings are given exactly, so that they rebuild the trial's config."""
    rows = [{**row, "value": rounded(row["value"])} for row in trials_table(study)]
    best = best_trial(study)
    best_path = directory / BEST_NAME
    return {
        "study": study.study_name,
        "study_dir": str(directory),
        "trials": rows,
        "counted": sum(counted(t) for t in study.get_trials(deepcopy=False)),
        "best": None
        if best is None
        else {"number": best.number, "value": rounded(best.value), "values": best.user_attrs.get("values")},
        "best_config": str(best_path) if best_path.is_file() else None,
        "importances": rounded(importances(study)),
    }

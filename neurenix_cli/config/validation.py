"""Validation: every key of a config checked, defaults filled in, the env probed and the agent built once.

Every error names the file, the dotted key path, what is wrong and how to fix it, and is raised before anything
is written to disk.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from neurenix.errors import ConfigError, EnvironmentNotFoundError
from neurenix_cli import envs, sb3_names
from neurenix_cli.config.messages import Checker, did_you_mean, inline, show
from neurenix_cli.config.types import plain, to_annotation_container
from neurenix_cli.numbers import thousands

if TYPE_CHECKING:
    from neurenix.rl.hyperparameters import Field

TOP_KEYS = ("algorithm", "seed", "env", "spaces", "agent", "train", "versions")
ENV_KEYS = (
    "id",
    "n_envs",
    "kwargs",
    "imports",
    "wrappers",
    "training_wrappers",
    "frame_stack",
    "import_path",
    "action_mask_key",
    "vectorization",
)
SPACE_KEYS = ("observation", "action")
MAX_ENVS = 1024  # envs step in one process: more is a typo, not a plan
# Constructor arguments the CLI supplies itself, never read from `agent:`: the spaces from the env, `seed` from
# the top-level seed, and (for algorithms that size rollout storage by it) `n_envs` from env.n_envs, so the
# number of envs is set in exactly one place.
RESERVED_AGENT_ARGS = ("observation_space", "action_space", "seed", "n_envs")
RESERVED_HINTS = {
    "seed": "Set the top-level `seed:` (or --seed).",
    "n_envs": "Set env.n_envs; the agent gets it from there.",
}

# train: key -> (annotation, default, minimum). A null eval_every/checkpoint_every (or 0) switches the periodic
# evaluation/checkpoint off; the final evaluation and the final `last` checkpoint always happen.
TRAIN_SCHEMA: dict[str, tuple[Any, Any, float | None]] = {
    "total_steps": (int | None, None, 1),
    "episodes": (int | None, None, 1),
    "max_steps": (int | None, None, 1),
    "eval_every": (int | None, 5000, 0),
    "eval_episodes": (int, 10, 0),
    "checkpoint_every": (int | None, 10000, 0),
    "target_reward": (float | None, None, None),
    "log_every": (int, 1000, 1),
    "save_replay_buffer": (bool, False, None),
    "tensorboard": (bool, False, None),
}
TRAIN_HELP = {
    "total_steps": "environment steps to train for (summed over env.n_envs)",
    "episodes": "episodes to train for (training stops at whichever budget is reached first)",
    "max_steps": "steps after which an episode is cut off (truncated)",
    "eval_every": "steps between evaluations (0 or null: only the final one)",
    "eval_episodes": "episodes per evaluation (0: no evaluation)",
    "checkpoint_every": "steps between saves of checkpoints/last (0 or null: only at the end)",
    "target_reward": "stop early once an evaluation's mean return reaches this",
    "log_every": "steps between rows of updates.csv (losses averaged over the updates in between)",
    "save_replay_buffer": "also save an off-policy agent's replay buffer in checkpoints/last (exact resumes)",
    "tensorboard": "also write TensorBoard event files into RUN_DIR/tensorboard (needs neurenix[tensorboard])",
}


MAX_VALUES = 1_000_000  # far beyond any config, far below what hangs a validation


def _check_expanded_size(raw: dict, check: Checker) -> None:
    """Refuse a config whose YAML aliases refer to themselves or expand to more than MAX_VALUES values (a
    "billion laughs" document): every walk over such a value, even printing it in an error, never ends."""
    sizes: dict[int, int] = {}

    def size(value: Any, active: frozenset[int]) -> int:
        if not isinstance(value, (list, dict)):
            return 1
        if id(value) in active:
            raise ValueError("refers to itself through a YAML alias")
        if id(value) not in sizes:
            children = value.values() if isinstance(value, dict) else value
            sizes[id(value)] = 1 + sum(size(child, active | {id(value)}) for child in children)
        return sizes[id(value)]

    for key, value in raw.items():
        try:
            total = size(value, frozenset())
            problem = f"expands to {total:,} values" if total > MAX_VALUES else ""
        except ValueError as exc:
            problem = str(exc)
        except RecursionError:
            problem = "nests lists or mappings too deeply"
        if problem:
            raise check.error(
                str(key), f"{problem}.", "Write the values out; a config needs no such structure."
            )


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A validated, fully resolved config and the agent its validation built. A run trains this very agent, so
    a command constructs it once (the constructor is the last check, and allocates the replay buffer)."""

    config: dict
    agent: Any
    notices: tuple[str, ...] = ()  # one line each, for the command to show: what the config resolved to


def validate(raw: dict, source: str = "<config>", origins: dict[str, str] | None = None) -> dict:
    """Check every key of a config and return it fully resolved (defaults filled in, spaces derived); what
    `prepare` checks, for callers that want only the config."""
    return prepare(raw, source, origins).config


def prepare(raw: dict, source: str = "<config>", origins: dict[str, str] | None = None) -> Prepared:
    """Check every key of a config, resolve it (defaults filled in, spaces derived) and build its agent.

    Builds the environment (one copy) and the agent once, so that an unknown env id, spaces that contradict the
    env, and hyperparameter values the algorithm rejects all fail here, before a run directory exists.
    Validating an already resolved config returns an equal config.
    """
    from neurenix.rl import registry

    check = Checker(source, origins)
    raw = check.mapping(raw, "")
    _check_expanded_size(raw, check)
    if "search" in raw:
        # Refused rather than ignored: a run that silently trains the base values would look like a tuned one.
        raise check.error(
            "search",
            "is a search space, which only `neurenix tune` reads; train and sweep take fixed values.",
            "Run `neurenix tune CONFIG --trials N`, or remove the block (a study's best.yaml has none).",
        )
    check.unknown_keys(raw, TOP_KEYS, "")

    # algorithm
    name = raw.get("algorithm")
    names = list(registry.names())
    if name is None:
        raise check.error(
            "algorithm", "is missing.", f"Add `algorithm: <name>` with one of: {', '.join(names)}."
        )
    if not isinstance(name, str) or name.lower() not in names:
        raise check.error(
            "algorithm",
            f"unknown algorithm {show(name)}.",
            did_you_mean(str(name).lower(), names) + f" Available: {', '.join(names)}.",
        )
    name = name.lower()
    cls = registry.get(name)
    renamed = sb3_names.hints(name)

    seed = check.typed(raw.get("seed", 0), int, "seed", minimum=0)

    # env
    env_raw = check.mapping(raw.get("env"), "env")
    check.unknown_keys(env_raw, ENV_KEYS, "env", renamed=renamed)
    env_id = env_raw.get("id")
    if env_id is None:
        raise check.error(
            "env.id", "is missing.", "Add `env: {id: CartPole-v1}` (any registered gymnasium id)."
        )
    if not isinstance(env_id, str):
        raise check.error("env.id", f"expects an environment id string, got {show(env_id)}.", "Quote it.")
    n_envs = check.typed(env_raw.get("n_envs", 1), int, "env.n_envs", minimum=1)
    if n_envs > MAX_ENVS:
        raise check.error(
            "env.n_envs",
            f"{n_envs} copies of the env is more than this CLI runs in one process.",
            f"Use at most {MAX_ENVS}.",
        )
    env_kwargs = check.mapping(env_raw.get("kwargs"), "env.kwargs")
    env_limit = check.typed(
        env_kwargs.get("max_episode_steps"), int | None, "env.kwargs.max_episode_steps", minimum=1
    )
    if env_limit is not None:
        env_kwargs = {**env_kwargs, "max_episode_steps": env_limit}
    env = {
        "id": env_id,
        "n_envs": n_envs,
        "kwargs": plain(env_kwargs),
        "imports": _imports(env_raw.get("imports"), check),
        "wrappers": _wrappers(env_raw.get("wrappers"), check),
        "training_wrappers": _wrappers(env_raw.get("training_wrappers"), check, "env.training_wrappers"),
        "frame_stack": check.typed(env_raw.get("frame_stack", 1), int, "env.frame_stack", minimum=1),
        "import_path": check.typed(env_raw.get("import_path"), str | None, "env.import_path"),
        "action_mask_key": check.typed(env_raw.get("action_mask_key"), str | None, "env.action_mask_key"),
        "vectorization": _vectorization(env_raw.get("vectorization", "sync"), check),
    }
    if env["import_path"] is not None or envs.names_code(env):
        # Absolute, so that eval, --resume and a sweep's workers find the modules from any working directory.
        env["import_path"] = os.path.abspath(env["import_path"] or os.getcwd())
    observation_space, action_space = probe_env(
        env_id, env_kwargs, envs.load(env, check), check, env["action_mask_key"]
    )
    if env["training_wrappers"]:
        _check_training_wrappers(env, env_kwargs, (observation_space, action_space), check)

    # spaces: checked against the env when given, derived from it otherwise
    spaces_raw = check.mapping(raw.get("spaces"), "spaces")
    check.unknown_keys(spaces_raw, SPACE_KEYS, "spaces")
    spaces = {
        "observation": _space_against_env(
            spaces_raw.get("observation"), observation_space, "spaces.observation", env_id, check
        ),
        "action": _space_against_env(spaces_raw.get("action"), action_space, "spaces.action", env_id, check),
    }

    _check_observations(observation_space, env_id, check, cls.takes_images)
    _check_actions(action_space, env_id, check)
    supported = cls.action_space_types
    kind = spaces["action"]["type"]
    if kind not in supported:
        others = registry.supporting(kind)
        raise check.error(
            "algorithm",
            f"{name} cannot take the action space of {env_id}, {inline(spaces['action'])} (a {kind} space): "
            f"{name} takes {' and '.join(supported)} actions.",
            (
                f"Use an algorithm that takes {kind} actions: {', '.join(others)}."
                if others
                else f"No registered algorithm takes {kind} actions."
            )
            + " `neurenix list algorithms` shows the action spaces each algorithm takes.",
        )

    # agent: the algorithm's hyperparameter record
    params = agent_parameters(cls)
    agent_raw = check.mapping(raw.get("agent"), "agent")
    check.unknown_keys(agent_raw, params, "agent", hints=RESERVED_HINTS, renamed=renamed)
    agent = {
        key: plain(check.typed(agent_raw[key], field.annotation, f"agent.{key}"))
        if key in agent_raw
        else plain(field.default)
        for key, field in params.items()
    }
    _frame_stack(env["frame_stack"], agent, agent_raw, check)

    # train: the budget and the run's schedule
    train_raw = check.mapping(raw.get("train"), "train")
    check.unknown_keys(train_raw, TRAIN_SCHEMA, "train", renamed=renamed)
    train = {
        key: check.typed(train_raw.get(key, default), annotation, f"train.{key}", minimum)
        for key, (annotation, default, minimum) in TRAIN_SCHEMA.items()
    }
    if train["total_steps"] is None and train["episodes"] is None:
        raise check.error(
            "train.total_steps",
            "no training budget: train.total_steps and train.episodes are both unset.",
            "Set one of them, e.g. `train: {total_steps: 50000}`.",
        )
    notices = _episode_limit(train, train_raw, env_limit)
    if train["tensorboard"]:
        # Checked here, not when the writer opens: asking for TensorBoard and silently getting none would only
        # be noticed after the run, and nothing may be trained or written for a config that cannot run.
        from neurenix_cli.extras import MissingExtraError, install_hint, require

        try:
            require("tensorboardX", "tensorboard", "train.tensorboard")
        except MissingExtraError:
            raise check.error(
                "train.tensorboard",
                "needs the optional package tensorboardX, which is not installed.",
                f"Install it with `{install_hint('tensorboard')}`, or set train.tensorboard: false.",
            ) from None

    config = {
        "algorithm": name,
        "seed": seed,
        "env": env,
        "spaces": spaces,
        "agent": agent,
        "train": train,
    }
    # The algorithm's own range checks (a negative learning rate, gamma above 1, ...) run in its constructor.
    agent = make_agent(config, observation_space, action_space, check=check)
    _check_budget_reaches_an_update(agent, config, check)
    return Prepared(config, agent, notices)


def _episode_limit(train: dict, train_raw: dict, limit: int | None) -> tuple[str, ...]:
    """Resolve train.max_steps against env.kwargs.max_episode_steps, which both cut episodes off: the env's
    limit holds unless train.max_steps is set (not null), and a notice says which won when they differ. The
    resolved train.max_steps is the limit, so a run's config.yaml rebuilds the same episodes."""
    if limit is None:
        return ()
    if train_raw.get("max_steps") is None:
        train["max_steps"] = limit
        return ()
    if train["max_steps"] == limit:
        return ()
    return (
        f"train.max_steps ({thousands(train['max_steps'])}) overrides env.kwargs.max_episode_steps "
        f"({thousands(limit)}): episodes are cut off after {thousands(train['max_steps'])} steps. Set "
        "train.max_steps: null to keep the env's limit.",
    )


def _check_budget_reaches_an_update(agent: Any, config: dict, check: Checker) -> None:
    """A budget that ends before the agent's first update (one full rollout on-policy; learning_starts, a
    batch and the train_freq cadence off-policy) trains nothing and would still be reported as completed. A step
    budget is checked as given; an episode budget by the most steps its episodes can take, when episodes have a
    length limit (train.max_steps, or the env's registered one)."""
    train, n_envs = config["train"], config["env"]["n_envs"]
    first = agent.no_update_before(n_envs)
    if first is None:
        return
    name = config["algorithm"]
    if agent.collects_rollouts:
        why = (
            f"less than one rollout of {name} (agent.n_steps {thousands(agent.n_steps)} x env.n_envs "
            f"{thousands(n_envs)} = {thousands(first)} steps), and {name} updates only after a full rollout"
        )
        lower = "agent.n_steps"
    elif agent.train_freq_unit == "episode":
        why = (
            f"before {name}'s first update, which cannot come before step {thousands(first)} "
            f"(agent.learning_starts {thousands(agent.learning_starts)}, agent.batch_size "
            f"{thousands(agent.batch_size)}; then it waits for a chunk of agent.train_freq "
            f"({thousands(agent.train_freq)}) episodes to end)"
        )
        lower = "agent.learning_starts"
    else:
        why = (
            f"before {name}'s first update at step {thousands(first)} (agent.learning_starts "
            f"{thousands(agent.learning_starts)}, agent.batch_size {thousands(agent.batch_size)}, every "
            f"agent.train_freq {thousands(agent.train_freq)} steps of env.n_envs {thousands(n_envs)})"
        )
        lower = "agent.learning_starts"
    total = train["total_steps"]
    if total is not None and _rounded_up(total, n_envs) < first:
        raise check.error(
            "train.total_steps",
            f"{thousands(total)} steps is {why}: training would end without a single update.",
            f"Set train.total_steps to at least {thousands(first)} (a multiple of it wastes no steps), "
            f"or lower {lower}.",
        )
    episodes, limit = train["episodes"], train["max_steps"] or _registered_limit(config["env"]["id"])
    if episodes is None or limit is None:
        return
    # Every env ends an episode at least once per `limit` steps, so the loop has counted `episodes` episodes
    # after at most ceil(episodes / n_envs) * limit steps of each env.
    most = _rounded_up(episodes, n_envs) * limit
    if most < first:
        raise check.error(
            "train.episodes",
            f"{thousands(episodes)} episodes of at most {thousands(limit)} steps each end after at most "
            f"{thousands(most)} steps, {why}: training would end without a single update.",
            f"Set train.episodes to at least {thousands(-(-first // limit))}, train a step budget "
            f"(train.total_steps) instead, or lower {lower}.",
        )


def _rounded_up(count: int, n_envs: int) -> int:
    """`count` steps or episodes rounded up to what a loop stepping every env at once takes."""
    return -(-count // n_envs) * n_envs


def _registered_limit(env_id: str) -> int | None:
    """The episode length limit gymnasium registered for the env (its TimeLimit), if any."""
    import gymnasium

    try:
        return gymnasium.spec(env_id).max_episode_steps
    except Exception:  # an id gymnasium resolves only by making it (`module:Env`) has no spec to read here
        return None


def agent_parameters(cls: type) -> dict[str, Field]:
    """The algorithm's hyperparameters an `agent:` block may set: its record's fields but those the CLI supplies
    itself (`n_envs`, from env.n_envs)."""
    return {
        field.name: field for field in cls.Hyperparameters.declared() if field.name not in RESERVED_AGENT_ARGS
    }


def make_agent(config: dict, observation_space: Any, action_space: Any, check: Checker | None = None) -> Any:
    """Build the configured algorithm; a value it rejects becomes an error at `agent.<key>` (the key its
    ConfigError carries), or at `agent` for an error about the whole (the spaces, the memory)."""
    from neurenix.rl import registry

    cls = registry.get(config["algorithm"])
    params = agent_parameters(cls)
    kwargs = {
        k: to_annotation_container(v, params[k].annotation) if k in params else v
        for k, v in config["agent"].items()
    }
    if any(field.name == "n_envs" for field in cls.Hyperparameters.declared()):
        kwargs["n_envs"] = config["env"]["n_envs"]
    try:
        agent = cls(observation_space, action_space, seed=config["seed"], **kwargs)
        agent.check_n_envs(config["env"]["n_envs"])
        return agent
    except MemoryError as exc:
        check = check or Checker("<config>")
        raise check.error(
            "agent",
            f"{config['algorithm']} with these settings needs more memory than is free.",
            "Lower agent.buffer_size (or the network sizes).",
        ) from exc
    except ConfigError as exc:
        check = check or Checker("<config>")
        message = str(exc).strip() or type(exc).__name__
        key = exc.key if exc.key in params else None
        raise check.error(
            f"agent.{key}" if key else "agent",
            f"rejected by {config['algorithm']}: {message.rstrip('.')}.",
            "Change the value under `agent:`." if key else "Change the settings under `agent:` or the env.",
        ) from exc


def _frame_stack(stack: int, agent: dict, agent_raw: dict, check: Checker) -> None:
    """env.frame_stack also tells an off-policy agent's replay (agent.frame_stack) to keep each frame once; an
    agent.frame_stack written beside it must agree."""
    if stack == 1 or "frame_stack" not in agent:
        return
    if agent_raw.get("frame_stack", stack) != stack:
        raise check.error(
            "agent.frame_stack",
            f"is {agent_raw['frame_stack']}, but env.frame_stack stacks {stack} frames.",
            "Drop agent.frame_stack: env.frame_stack sets it.",
        )
    agent["frame_stack"] = stack


def _vectorization(value: Any, check: Checker) -> str:
    """env.vectorization: how the env's copies are stepped (sync or async)."""
    from neurenix.rl.environment import VECTORIZATIONS

    if value not in VECTORIZATIONS:
        raise check.error(
            "env.vectorization",
            f"{show(value)} is not a way to step the env's copies. {did_you_mean(str(value), VECTORIZATIONS)}",
            "Write sync (every copy stepped in the trainer's process) or async (the copies in parallel: copy 0 in "
            "the trainer, each other copy in its own worker process).",
        )
    return value


def _imports(value: Any, check: Checker) -> list[str]:
    """env.imports: dotted module names, imported before the env is made."""
    names = check.typed(value if value is not None else [], list[str], "env.imports")
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise check.error(
                "env.imports", f"{show(name)} is not a module name.", "Write it dotted, e.g. `my_pkg.envs`."
            )
    return names


def _wrappers(value: Any, check: Checker, key: str = "env.wrappers") -> list[str | dict]:
    """env.wrappers, RL Zoo's `env_wrapper` form: each entry `module:Class` (or `dotted.path.Class`), or a
    one-key mapping of that name to its keyword arguments; written back without empty arguments."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise check.error(
            key,
            f"must be a list, got {show(value)}.",
            "Write `wrappers: [module:Class, {module:Other: {key: value}}]`, applied in that order.",
        )
    resolved = []
    for spec in value:
        if isinstance(spec, dict) and len(spec) == 1:
            ((name, kwargs),) = spec.items()
            kwargs = check.mapping(kwargs, f"{key}.{name}")
        else:
            name, kwargs = spec, {}
        module, _, attribute = (
            name.partition(":") if isinstance(name, str) and ":" in name else str(name).rpartition(".")
        )
        if not (
            isinstance(name, str)
            and attribute
            and all(part.isidentifier() for part in [*module.split("."), *attribute.split(".")])
        ):
            raise check.error(
                key,
                f"entry {show(spec)} is not a wrapper class name with optional keyword arguments.",
                "Write `module:Class` (or `dotted.path.Class`), or `{module:Class: {key: value}}`.",
            )
        resolved.append({name: plain(kwargs)} if kwargs else name)
    return resolved


def _check_training_wrappers(env: dict, kwargs: dict, spaces: tuple[Any, Any], check: Checker) -> None:
    """The training wrappers may change rewards and episode ends, never the spaces: evaluation, without them,
    feeds the same networks."""
    trained = probe_env(
        env["id"], kwargs, envs.load(env, check, training=True), check, env["action_mask_key"]
    )
    for name, seen, evaluated in zip(("observation", "action"), trained, spaces):
        if seen != evaluated:
            raise check.error(
                "env.training_wrappers",
                f"change the {name} space from {evaluated} to {seen}; evaluation, which leaves them out, would "
                "feed the networks another space.",
                "Move a wrapper that changes the spaces to env.wrappers (applied to training and evaluation).",
            )


def probe_env(
    env_id: str, kwargs: dict, wrappers: list[envs.Wrapping], check: Checker, mask_key: str | None = None
) -> tuple[Any, Any]:
    """Make one copy of the env, wrapped, to learn its spaces; unknown ids, bad kwargs and wrappers that
    refuse the env become config errors. An env that masks its actions is reset once, so that a mask it cannot
    give (or a mask key for actions that take none) fails here rather than in training."""
    import gymnasium

    from neurenix.rl.environment import VecEnv, make_env

    try:
        env = make_env(env_id, n_envs=1, seed=None, **kwargs).envs[0]
    except EnvironmentNotFoundError as exc:
        raise check.error(
            "env.id", str(exc).strip(), "Use a registered gymnasium id, e.g. CartPole-v1 or Pendulum-v1."
        ) from exc
    except TypeError as exc:
        raise check.error(
            "env.kwargs",
            f"{env_id} does not accept these arguments: {exc}.",
            "Remove or rename the key under env.kwargs.",
        ) from exc
    except Exception as exc:  # gymnasium raises many types (missing extras, bad values)
        raise check.error(
            "env" if kwargs else "env.id",
            f"{env_id} could not be created: {exc}.",
            "Check env.id and env.kwargs, and that the environment's extras are installed.",
        ) from exc
    try:
        for wrap in wrappers:
            try:
                wrapped = wrap(env)
            except Exception as exc:
                raise check.error(
                    "env.wrappers",
                    f"{wrap.name} could not wrap {env_id}: {type(exc).__name__}: {str(exc).rstrip('.')}.",
                    f"Check the keyword arguments given to {wrap.name}, and that it wraps a gymnasium env.",
                ) from exc
            if not isinstance(wrapped, gymnasium.Env):
                raise check.error(
                    "env.wrappers",
                    f"{wrap.name} returned {show(wrapped)}, not a gymnasium env.",
                    "Name a gymnasium wrapper class (a subclass of gymnasium.Wrapper).",
                )
            env = wrapped
        try:
            vec = VecEnv([env], action_mask_key=mask_key)
            if vec.masks_actions:
                vec.reset(seed=0)
        except ConfigError as exc:
            raise check.error("env.action_mask_key" if mask_key else "env.id", str(exc).strip()) from exc
        return env.observation_space, env.action_space
    finally:
        env.close()


def _check_observations(observation_space: Any, env_id: str, check: Checker, images: bool) -> None:
    """Every algorithm reads observations through one front-end: a space it cannot take (a nested Dict, an image
    for an algorithm without a CNN encoder) is a problem of the env, named at env.id, not a rejected `agent:`
    setting."""
    from neurenix.rl.observations import ObservationFrontEnd

    try:
        ObservationFrontEnd(observation_space, images=images)
    except ConfigError as exc:
        raise check.error("env.id", f"{env_id}'s observations cannot be used. {exc}") from exc


def _check_actions(action_space: Any, env_id: str, check: Checker) -> None:
    """An action space no network head produces (a 2-D MultiBinary, a MultiDiscrete from a nonzero start) is a
    problem of the env, named at env.id, as an observation space no front-end takes."""
    from neurenix.rl.spaces import check_action_space

    try:
        check_action_space(action_space)
    except ConfigError as exc:
        raise check.error("env.id", f"{env_id}'s actions cannot be taken. {exc}") from exc


def _space_against_env(spec: Any, env_space: Any, path: str, env_id: str, check: Checker) -> dict:
    from neurenix.rl.spaces import compatible, to_gym_space, to_spec

    try:
        derived = plain(to_spec(env_space))
    except ValueError as exc:
        label = path.rsplit(".", 1)[-1]
        raise check.error(
            "env.id",
            f"{env_id} has an {label} space Neurenix cannot handle: {exc}.",
            "Wrap the env (env.wrappers) to give a Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple "
            "observation, or to leave out the part Neurenix cannot read"
            + (
                " (minigrid.wrappers.ImgObsWrapper keeps MiniGrid's image and drops its text mission)."
                if env_id.startswith(("MiniGrid-", "BabyAI-"))
                else "."
            )
            if label == "observation"
            else "Neurenix's algorithms take Discrete, Box, MultiDiscrete and MultiBinary action spaces "
            "(`neurenix list algorithms` shows which takes which).",
        ) from exc
    if spec is None:
        return derived
    if not isinstance(spec, dict):
        raise check.error(
            path,
            f"must be a space spec mapping, got {show(spec)}.",
            f"Remove it to use the env's own space, which is {inline(derived)}.",
        )
    try:
        space = to_gym_space(spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise check.error(
            path,
            f"is not a valid space spec: {exc}.",
            f"Remove it to use the env's own space, which is {inline(derived)}.",
        ) from exc
    # Compare only what the spec states: `{type: box, shape: [4]}` leaves the bounds to the env.
    given = plain(to_spec(space))
    stated = {"shape" if key == "dim" else key for key in spec}
    fields = ("type", "n", "shape", "low", "high", "nvec", "start", "dtype")
    wrong = [key for key in fields if key in stated and given.get(key) != derived.get(key)]
    # A Dict's or Tuple's parts are compared whole, without bounds the spec may leave to the env.
    if "spaces" in stated and not compatible(space, env_space, check_bounds=False):
        wrong.append("spaces")
    if wrong:
        shown = {key: given.get(key) for key in (*fields, "spaces") if key in stated}
        raise check.error(
            path,
            f"contradicts {env_id} in {', '.join(wrong)}: the config says {inline(shown)}, the "
            f"env has {inline(derived)}.",
            f"Remove {path} or make it match the env.",
        )
    return derived

"""Validation: every key of a config checked, defaults filled in, the env probed and the agent built once.

Every error names the file, the dotted key path, what is wrong and how to fix it, and is raised before anything
is written to disk.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from neurenix.errors import ConfigError, EnvironmentNotFoundError
from neurenix_cli.config.messages import Checker, did_you_mean, inline, show
from neurenix_cli.config.types import plain, to_annotation_container

if TYPE_CHECKING:
    from neurenix.rl.hyperparameters import Field

TOP_KEYS = ("algorithm", "seed", "env", "spaces", "agent", "train", "versions")
ENV_KEYS = ("id", "n_envs", "kwargs", "action_mask_key")
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

    seed = check.typed(raw.get("seed", 0), int, "seed", minimum=0)

    # env
    env_raw = check.mapping(raw.get("env"), "env")
    check.unknown_keys(env_raw, ENV_KEYS, "env")
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
    mask_key = check.typed(env_raw.get("action_mask_key"), str | None, "env.action_mask_key")
    observation_space, action_space = probe_env(env_id, env_kwargs, check, mask_key)

    # spaces: checked against the env when given, derived from it otherwise
    spaces_raw = check.mapping(raw.get("spaces"), "spaces")
    check.unknown_keys(spaces_raw, SPACE_KEYS, "spaces")
    spaces = {
        "observation": _space_against_env(
            spaces_raw.get("observation"), observation_space, "spaces.observation", env_id, check
        ),
        "action": _space_against_env(spaces_raw.get("action"), action_space, "spaces.action", env_id, check),
    }

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
    check.unknown_keys(agent_raw, params, "agent", hints=RESERVED_HINTS)
    agent = {
        key: plain(check.typed(agent_raw[key], field.annotation, f"agent.{key}"))
        if key in agent_raw
        else plain(field.default)
        for key, field in params.items()
    }

    # train: the budget and the run's schedule
    train_raw = check.mapping(raw.get("train"), "train")
    check.unknown_keys(train_raw, TRAIN_SCHEMA, "train")
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
        "env": {"id": env_id, "n_envs": n_envs, "kwargs": plain(env_kwargs), "action_mask_key": mask_key},
        "spaces": spaces,
        "agent": agent,
        "train": train,
    }
    # The algorithm's own range checks (a negative learning rate, gamma above 1, ...) run in its constructor.
    return Prepared(config, make_agent(config, observation_space, action_space, check=check))


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
        return cls(observation_space, action_space, seed=config["seed"], **kwargs)
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


def probe_env(env_id: str, kwargs: dict, check: Checker, mask_key: str | None = None) -> tuple[Any, Any]:
    """Make one copy of the env to learn its spaces; unknown ids and bad kwargs become config errors. An env
    that masks its actions is reset once, so that a mask it cannot give fails here rather than in training."""
    from neurenix.rl.environment import make_env

    try:
        env = make_env(env_id, n_envs=1, seed=None, action_mask_key=mask_key, **kwargs)
    except ConfigError as exc:
        raise check.error("env.action_mask_key", str(exc).strip()) from exc
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
        if env.masks_actions:
            try:
                env.reset(seed=0)
            except ConfigError as exc:
                message = str(exc).strip()
                raise check.error("env.action_mask_key" if mask_key else "env.id", message, "") from exc
        return env.observation_space, env.action_space
    finally:
        env.close()


def _space_against_env(spec: Any, env_space: Any, path: str, env_id: str, check: Checker) -> dict:
    from neurenix.rl.spaces import to_gym_space, to_spec

    try:
        derived = plain(to_spec(env_space))
    except ValueError as exc:
        label = path.rsplit(".", 1)[-1]
        raise check.error(
            "env.id",
            f"{env_id} has an {label} space Neurenix cannot handle: {exc}.",
            "Choose an environment with box observations and discrete or box actions."
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
    wrong = [
        key
        for key in ("type", "n", "shape", "low", "high")
        if key in stated and given.get(key) != derived.get(key)
    ]
    if wrong:
        shown = {key: given.get(key) for key in ("type", "n", "shape", "low", "high") if key in stated}
        raise check.error(
            path,
            f"contradicts {env_id} in {', '.join(wrong)}: the config says {inline(shown)}, the "
            f"env has {inline(derived)}.",
            f"Remove {path} or make it match the env.",
        )
    return derived

"""YAML config -> validated, fully resolved plain data.

The `agent:` section maps 1:1 onto the algorithm's constructor: its keys, types and defaults are read from the
constructor's signature, so a new constructor argument is configurable (and checked) without touching this file.
Every error names the file, the dotted key path, what is wrong and how to fix it, and is raised before anything
is written to disk.

    algorithm: dqn                       # registry name, case-insensitive
    seed: 0
    env: {id: CartPole-v1, n_envs: 1, kwargs: {}}
    spaces: {observation: {...}, action: {...}}   # optional: derived from the env, checked against it if given
    agent: {hidden_dims: [64, 64], ...}  # the algorithm's constructor keyword arguments
    train: {total_steps: 50000, episodes: null, max_steps: 500, eval_every: 5000, eval_episodes: 10,
            checkpoint_every: 10000, target_reward: null, log_every: 1000}
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import platform
import types
import typing
from pathlib import Path
from typing import Any

from neurenix.errors import ConfigError, EnvironmentNotFoundError

TOP_KEYS = ("algorithm", "seed", "env", "spaces", "agent", "train", "versions")
ENV_KEYS = ("id", "n_envs", "kwargs")
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


class ConfigFileError(ConfigError):
    """A config problem located at a key path of a file (or of an override)."""

    def __init__(self, source: str, path: str, problem: str, fix: str = "", via: str | None = None):
        self.source, self.path, self.problem, self.fix, self.via = source, path, problem, fix, via
        where = f"{source}: {path}" if path else source
        if via:
            where += f" (set by --set {via})"
        super().__init__(f"{where}: {problem}" + (f" {fix}" if fix else ""))


class _Checker:
    """Raises ConfigFileError with the file name and the override a key came from."""

    def __init__(self, source: str, origins: dict[str, str] | None = None):
        self.source = source
        self.origins = origins or {}

    def error(self, path: str, problem: str, fix: str = "") -> ConfigFileError:
        via = None
        for key, text in self.origins.items():
            if path == key or path.startswith(key + ".") or key.startswith(path + "."):
                via = text
                break
        return ConfigFileError(self.source, path, problem, fix, via)

    def mapping(self, value: Any, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                path,
                f"must be a mapping of keys to values, got {_show(value)}.",
                f"Write it as `{path.rsplit('.', 1)[-1]}: {{key: value, ...}}` or as indented keys.",
            )
        for key in value:
            if not isinstance(key, str):
                raise self.error(
                    f"{path}.{key}" if path else str(key),
                    f"keys must be strings, got {_show(key)}.",
                    "Quote the key.",
                )
        return value

    def unknown_keys(self, mapping: dict, valid: collections.abc.Iterable[str], path: str) -> None:
        valid = list(valid)
        for key in mapping:
            if key not in valid:
                where = f"{path}.{key}" if path else key
                if path == "agent" and key in RESERVED_HINTS:
                    raise self.error(where, "is not set under `agent:`.", RESERVED_HINTS[key])
                raise self.error(
                    where, "unknown key.", did_you_mean(key, valid) + f" Valid keys: {', '.join(valid)}."
                )

    def typed(self, value: Any, annotation: Any, path: str, minimum: float | None = None) -> Any:
        try:
            value = coerce(value, annotation)
        except TypeError:
            raise self.error(
                path,
                f"expects {describe(annotation)}, got {_show(value)}.",
                f"Set it to {describe(annotation)}.",
            ) from None
        if (
            minimum is not None
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value < minimum
        ):
            raise self.error(
                path, f"must be at least {minimum:g}, got {value!r}.", f"Set it to {minimum:g} or more."
            )
        return value


MAX_VALUES = 1_000_000  # far beyond any config, far below what hangs a validation


def _check_expanded_size(raw: dict, check: _Checker) -> None:
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


# ----------------------------------------------------------------------------------------------------- entry points
def load_config(
    path: str | Path, overrides: collections.abc.Sequence[str] = (), seed: int | None = None
) -> dict:
    """Read a YAML config, apply `--set K=V` overrides and `--seed`, validate, and return the resolved config."""
    raw = read_yaml(path)
    raw, origins = apply_overrides(raw, overrides, source=str(path))
    if seed is not None:
        raw["seed"] = seed
        origins["seed"] = f"--seed {seed}"
    return validate(raw, source=str(path), origins=origins)


def read_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            str(path),
            "",
            "no such file.",
            "Check the path; `neurenix list configs` shows the configs in ./configs.",
        ) from None
    except IsADirectoryError:
        raise ConfigFileError(
            str(path),
            "",
            "is a directory, not a YAML file.",
            "To continue a run, use `neurenix train --resume RUN_DIR`.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(path), "", f"cannot be read ({exc}).", "Check the file.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the document"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigFileError(
            str(path),
            "",
            f"is not valid YAML at {where}: {problem}.",
            "Fix the syntax there (indent with spaces, `key: value` pairs).",
        ) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigFileError(
            str(path), "", "nests lists or mappings too deeply to read.", "A config needs a few levels."
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            str(path),
            "",
            f"must be a mapping at the top level, got {_show(data)}.",
            "Start from configs/dqn_cartpole.yaml.",
        )
    return data


def apply_overrides(
    raw: dict, overrides: collections.abc.Sequence[str], source: str = "<config>"
) -> tuple[dict, dict[str, str]]:
    """Apply `KEY=VALUE` overrides (dotted keys, YAML-typed values) to a copy of `raw`.

    Returns the new config and, for error messages, which override set each dotted key.
    """
    import copy

    import yaml

    raw = copy.deepcopy(raw)
    origins: dict[str, str] = {}
    for text in overrides:
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigFileError(
                source,
                "",
                f"--set {text!r} is not KEY=VALUE.",
                "Write it as a dotted key and a YAML value, e.g. --set agent.learning_rate=0.001.",
            )
        try:
            value = yaml.safe_load(value_text) if value_text.strip() else None
        except (yaml.YAMLError, RecursionError):
            value = value_text  # not YAML (e.g. an unbalanced bracket): take it as the literal string
        node = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigFileError(
                    source,
                    key,
                    f"{prefix} is {_show(child)}, not a mapping, so it has no keys.",
                    f"Set {prefix} itself (e.g. --set {prefix}=...).",
                    via=text,
                )
            node = child
        node[parts[-1]] = value
        origins[key] = text
    return raw, origins


def validate(raw: dict, source: str = "<config>", origins: dict[str, str] | None = None) -> dict:
    """Check every key of a config and return it fully resolved (defaults filled in, spaces derived).

    Builds the environment (one copy) and the agent once, so that an unknown env id, spaces that contradict the
    env, and hyperparameter values the algorithm rejects all fail here, before a run directory exists.
    Validating an already resolved config returns an equal config.
    """
    from neurenix.rl import registry

    check = _Checker(source, origins)
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
            f"unknown algorithm {_show(name)}.",
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
        raise check.error("env.id", f"expects an environment id string, got {_show(env_id)}.", "Quote it.")
    n_envs = check.typed(env_raw.get("n_envs", 1), int, "env.n_envs", minimum=1)
    if n_envs > MAX_ENVS:
        raise check.error(
            "env.n_envs",
            f"{n_envs} copies of the env is more than this CLI runs in one process.",
            f"Use at most {MAX_ENVS}.",
        )
    env_kwargs = check.mapping(env_raw.get("kwargs"), "env.kwargs")
    observation_space, action_space = probe_env(env_id, env_kwargs, check)

    # spaces: checked against the env when given, derived from it otherwise
    spaces_raw = check.mapping(raw.get("spaces"), "spaces")
    check.unknown_keys(spaces_raw, SPACE_KEYS, "spaces")
    spaces = {
        "observation": _space_against_env(
            spaces_raw.get("observation"), observation_space, "spaces.observation", env_id, check
        ),
        "action": _space_against_env(spaces_raw.get("action"), action_space, "spaces.action", env_id, check),
    }

    supported = tuple(getattr(cls, "action_space_types", ()) or ())
    kind = spaces["action"]["type"]
    if supported and kind not in supported:
        others = [n for n in names if kind in tuple(getattr(registry.get(n), "action_space_types", ()) or ())]
        raise check.error(
            "algorithm",
            f"{name} supports {' and '.join(supported)} action spaces, but {env_id} has a "
            f"{kind} action space.",
            (f"Use one of: {', '.join(others)}." if others else "No registered algorithm supports it.")
            + " `neurenix list algorithms` shows which algorithm supports which space.",
        )

    # agent: the constructor's keyword arguments
    params = agent_parameters(cls)
    agent_raw = check.mapping(raw.get("agent"), "agent")
    check.unknown_keys(agent_raw, params, "agent")
    agent: dict[str, Any] = {}
    for key, param in params.items():
        if key in agent_raw:
            agent[key] = _plain(check.typed(agent_raw[key], param.annotation, f"agent.{key}"))
        elif param.default is inspect.Parameter.empty:
            raise check.error(
                f"agent.{key}",
                f"is required by {name} and missing.",
                f"Add it under `agent:` ({describe(param.annotation)}).",
            )
        elif _is_plain(param.default):
            agent[key] = _plain(param.default)

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
        "env": {"id": env_id, "n_envs": n_envs, "kwargs": _plain(env_kwargs)},
        "spaces": spaces,
        "agent": agent,
        "train": train,
    }
    # The algorithm's own range checks (a negative learning rate, gamma above 1, ...) run in its constructor.
    make_agent(config, observation_space, action_space, check=check)
    return config


# ----------------------------------------------------------------------------------------------------- building
def agent_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The algorithm's configurable constructor arguments, with annotations resolved to real types.

    Follows `**kwargs` up the MRO, so arguments a subclass forwards to its base are configurable too.
    """
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an annotation that does not resolve: check nothing rather than fail
            hints = {}
        forwards = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                forwards = True
            elif (
                p.kind is not p.VAR_POSITIONAL and p.name not in RESERVED_AGENT_ARGS and p.name not in params
            ):
                params[p.name] = p.replace(annotation=hints.get(p.name, p.annotation))
        if not forwards:
            break
    return params


def make_agent(config: dict, observation_space: Any, action_space: Any, check: _Checker | None = None) -> Any:
    """Build the configured algorithm; a value its constructor rejects becomes an error at `agent.<name>`."""
    from neurenix.rl import registry

    cls = registry.get(config["algorithm"])
    params = agent_parameters(cls)
    kwargs = {
        k: _to_annotation_container(v, params[k].annotation) if k in params else v
        for k, v in config["agent"].items()
    }
    if _accepts(cls, "n_envs"):
        kwargs["n_envs"] = config["env"]["n_envs"]
    try:
        return cls(
            observation_space=observation_space, action_space=action_space, seed=config["seed"], **kwargs
        )
    except MemoryError as exc:
        check = check or _Checker("<config>")
        raise check.error(
            "agent",
            f"{config['algorithm']} with these settings needs more memory than is free.",
            "Lower agent.buffer_size (or the network sizes).",
        ) from exc
    except (ConfigError, ValueError, TypeError) as exc:
        check = check or _Checker("<config>")
        message = str(exc).strip() or type(exc).__name__
        key = _mentioned_key(message, list(config["agent"]) or list(params))
        path = f"agent.{key}" if key else "agent"
        raise check.error(
            path,
            f"rejected by {config['algorithm']}: {message.rstrip('.')}.",
            "Change the value under `agent:`.",
        ) from exc


def _accepts(cls: type, name: str) -> bool:
    """Whether the constructor (following `**kwargs` up the MRO) takes the keyword argument `name`."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        if name in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def probe_env(env_id: str, kwargs: dict, check: _Checker) -> tuple[Any, Any]:
    """Make one copy of the env to learn its spaces; unknown ids and bad kwargs become config errors."""
    from neurenix.rl.environment import make_env

    try:
        env = make_env(env_id, n_envs=1, seed=None, **kwargs)
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
        return env.observation_space, env.action_space
    finally:
        env.close()


def _space_against_env(spec: Any, env_space: Any, path: str, env_id: str, check: _Checker) -> dict:
    from neurenix.rl.spaces import to_gym_space, to_spec

    try:
        derived = _plain(to_spec(env_space))
    except ValueError as exc:
        raise check.error(
            "env.id",
            f"{env_id} has a {path.rsplit('.', 1)[-1]} space Neurenix cannot handle: {exc}.",
            "Choose an environment with box observations and discrete or box actions.",
        ) from exc
    if spec is None:
        return derived
    if not isinstance(spec, dict):
        raise check.error(
            path,
            f"must be a space spec mapping, got {_show(spec)}.",
            f"Remove it to use the env's own space, which is {_inline(derived)}.",
        )
    try:
        space = to_gym_space(spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise check.error(
            path,
            f"is not a valid space spec: {exc}.",
            f"Remove it to use the env's own space, which is {_inline(derived)}.",
        ) from exc
    # Compare only what the spec states: `{type: box, shape: [4]}` leaves the bounds to the env.
    given = _plain(to_spec(space))
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
            f"contradicts {env_id} in {', '.join(wrong)}: the config says {_inline(shown)}, the "
            f"env has {_inline(derived)}.",
            f"Remove {path} or make it match the env.",
        )
    return derived


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("neurenix", "numpy", "gymnasium"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    out["python"] = platform.python_version()
    return out


def dump_yaml(config: dict) -> str:
    """Block-style YAML, except lists of scalars, which read best inline (`hidden_dims: [64, 64]`)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_list(dumper: yaml.SafeDumper, data: list) -> Any:
        flow = all(not isinstance(v, (list, dict)) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    Dumper.add_representer(list, represent_list)
    return yaml.dump(config, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=110)


# ----------------------------------------------------------------------------------------------------- types
def coerce(value: Any, annotation: Any) -> Any:
    """Return `value` as `annotation` asks (ints for floats, numeric strings like YAML's `1e-3`), or TypeError.

    YAML 1.1 reads `1e-3` (no dot) as a string; accepting numeric strings where a number is expected saves every
    user that surprise.
    """
    if annotation in (inspect.Parameter.empty, Any, object) or isinstance(annotation, typing.TypeVar):
        return value
    if annotation is None or annotation is type(None):
        if value is None:
            return None
        raise TypeError
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        # Try the strict reading of every arm before any coercion, so `int | str` keeps "3" a string.
        for arm in args:
            if _matches_exactly(value, arm):
                return value
        for arm in args:
            try:
                return coerce(value, arm)
            except TypeError:
                continue
        raise TypeError
    if origin is typing.Literal:
        if value in args:
            return value
        raise TypeError
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if annotation is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int):
            return value
        number = _number(value)
        if number is not None and float(number).is_integer():
            return int(number)
        raise TypeError
    if annotation is float:
        if isinstance(value, bool):
            raise TypeError
        number = _number(value)
        if number is not None and number == number:  # NaN is never a meaningful setting
            return float(number)
        raise TypeError
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError
    container = origin or annotation
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise TypeError
            return [coerce(v, a) for v, a in zip(value, args)]
        item = args[0] if args else Any
        return [coerce(v, item) for v in value]
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        if not isinstance(value, dict):
            raise TypeError
        key_t, val_t = args if len(args) == 2 else (Any, Any)
        return {coerce(k, key_t): coerce(v, val_t) for k, v in value.items()}
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise TypeError
    return value  # Callable, Protocols, ...: nothing a YAML value can be checked against


def _matches_exactly(value: Any, annotation: Any) -> bool:
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation in (int, float):
        return isinstance(value, annotation) and not isinstance(value, bool) and value == value  # not NaN
    if annotation is str:
        return isinstance(value, str)
    return False


def _number(value: Any) -> float | int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip().replace("_", ""))
        except ValueError:
            return None
    return None


def describe(annotation: Any) -> str:
    """A type in words, for messages: `list[int]` -> "a list of integers"."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return "any value"
    if annotation is None or annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        arms = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(arms)
        return text + " or null" if type(None) in args else text
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in words:
        return words[annotation]
    container = origin or annotation
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence):
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} values ({', '.join(describe(a) for a in args)})"
        if args:
            inner = describe(args[0])
            plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}.get(
                inner, inner
            )
            return f"a list of {plural}"
        return "a list"
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def _to_annotation_container(value: Any, annotation: Any) -> Any:
    """YAML gives lists; hand a constructor annotated with `tuple[...]` a tuple."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        for arm in typing.get_args(annotation):
            if (typing.get_origin(arm) or arm) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if (origin or annotation) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    """Tuples to lists and numpy scalars/arrays to Python, so the config dumps as plain YAML/JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    return value


# ----------------------------------------------------------------------------------------------------- JSON Schema
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict:
    """A JSON Schema (draft 2020-12) of the config format, built from what `validate` checks: the top-level,
    env, spaces and train keys above, and each registered algorithm's constructor (its `agent:` keys, types and
    defaults) through `agent_parameters`, so the schema and the validation cannot drift apart.

    What needs the environment or the algorithm's code (that an env id is registered, spaces against the env,
    value ranges an algorithm checks in its constructor) stays with `validate`. The schema is for editors:
    completion, hover help and unknown keys or wrong types flagged while typing.
    """
    import gymnasium

    from neurenix.rl import registry
    from neurenix.rl.spaces import SPACE_TYPES

    names = list(registry.names())
    space = {
        "description": "A space spec; omit it to use the env's own space (given, it must match the env).",
        "type": ["object", "null"],
        "required": ["type"],
        "properties": {
            "type": {"enum": list(SPACE_TYPES)},
            "n": {"type": "integer", "minimum": 1, "description": "discrete: the number of actions"},
            "shape": {
                "description": "box: the shape (an integer is a 1-d shape)",
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                ],
            },
            "dim": {"type": "integer", "minimum": 1, "description": "box: shorthand for shape [dim]"},
            "low": {"type": ["number", "array"], "description": "box: lower bound (scalar or per element)"},
            "high": {"type": ["number", "array"], "description": "box: upper bound (scalar or per element)"},
        },
    }
    train = {}
    for key, (annotation, default, minimum) in TRAIN_SCHEMA.items():
        train[key] = {**_type_schema(annotation), "default": default, "description": TRAIN_HELP[key]}
        if minimum is not None:
            train[key]["minimum"] = minimum
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Neurenix config",
        "description": "A `neurenix train` config. Generated by `neurenix schema` from the validation rules.",
        "type": "object",
        "required": ["algorithm", "env", "train"],
        "additionalProperties": False,
        "properties": {
            "algorithm": {
                "description": "A registered algorithm (`neurenix list algorithms`), case-insensitive.",
                "anyOf": [{"enum": names}, {"type": "string", "pattern": _any_case(names)}],
            },
            "seed": {
                "description": "Seeds the envs, the networks and exploration.",
                "type": "integer",
                "minimum": 0,
                "default": 0,
            },
            "env": {
                "type": "object",
                "required": ["id"],
                "additionalProperties": False,
                "properties": {
                    "id": {
                        "type": "string",
                        "description": "A registered gymnasium id.",
                        "examples": sorted(gymnasium.registry),
                    },
                    "n_envs": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_ENVS,
                        "default": 1,
                        "description": "Environments stepped together.",
                    },
                    "kwargs": {"type": ["object", "null"], "description": "Passed to gymnasium.make."},
                },
            },
            "spaces": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {key: space for key in SPACE_KEYS},
            },
            "agent": {
                "type": ["object", "null"],
                "description": "The algorithm's constructor arguments, by name.",
            },
            "train": {
                "type": "object",
                "additionalProperties": False,
                "properties": train,
                # validate() refuses a config with neither budget.
                "anyOf": [
                    {"required": [key], "properties": {key: {"not": {"type": "null"}}}}
                    for key in ("total_steps", "episodes")
                ],
            },
            "versions": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Written into a run's config.yaml by `neurenix train`; ignored when training.",
            },
        },
        "allOf": [
            {
                "if": {
                    "required": ["algorithm"],
                    "properties": {"algorithm": {"pattern": _any_case([name])}},
                },
                "then": {"properties": {"agent": _agent_schema(name, registry.get(name))}},
            }
            for name in names
        ],
    }


def _agent_schema(name: str, cls: type) -> dict:
    properties, required = {}, []
    for key, param in agent_parameters(cls).items():
        properties[key] = {
            **_type_schema(param.annotation),
            "description": f"{cls.__name__} constructor argument: {describe(param.annotation)}.",
        }
        if param.default is inspect.Parameter.empty:
            required.append(key)
        elif _is_plain(param.default):
            properties[key]["default"] = _plain(param.default)
    out = {"type": ["object", "null"], "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    out["description"] = f"{cls.__name__}'s constructor arguments (algorithm: {name})."
    return out


def _type_schema(annotation: Any) -> dict:
    """The JSON Schema of what `coerce` accepts for `annotation` ({} where it checks nothing)."""
    if annotation in (inspect.Parameter.empty, Any, object) or isinstance(annotation, typing.TypeVar):
        return {}
    if annotation is None or annotation is type(None):
        return {"type": "null"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        arms = [_type_schema(arm) for arm in args]
        return {} if {} in arms else {"anyOf": arms}
    if origin is typing.Literal:
        return {"enum": list(args)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in simple:
        return {"type": simple[annotation]}
    container = origin or annotation
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence):
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            items = [_type_schema(a) for a in args]
            return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return {"type": "object"}
    return {}


def _any_case(names: collections.abc.Iterable[str]) -> str:
    """A pattern matching any of `names` in any letter case (JSON Schema patterns have no `i` flag)."""
    import re

    def one(name: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)

    return "^(?:" + "|".join(one(n) for n in names) + ")$"


# ----------------------------------------------------------------------------------------------------- messages
def did_you_mean(word: str, candidates: collections.abc.Iterable[str]) -> str:
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean {lowered[close[0]]!r}?" if close else ""


def _mentioned_key(message: str, keys: list[str]) -> str | None:
    """The argument a constructor's error names (longest first, so `learning_rate` beats `rate`)."""
    import re

    for key in sorted(keys, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(key)}(?![A-Za-z0-9_])", message):
            return key
    return None


def _show(value: Any) -> str:
    import reprlib

    # reprlib bounds the work, not just the text: repr() of a large value would build all of it first.
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 8, 8, 60, 60
    text = short.repr(value)
    kind = type(value).__name__
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if len(text) > 60:
        text = text[:57] + "..."
    words = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "list": "a list",
        "dict": "a mapping",
    }
    return f"{text} ({words[kind]})" if kind in words else text


def _inline(spec: Any) -> str:
    import json

    return json.dumps(spec, separators=(", ", ": "))

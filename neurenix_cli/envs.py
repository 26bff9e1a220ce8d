"""The run's env from its config's `env:` block alone, in whichever process builds it: `train`, `eval`,
`train --resume`, a sweep's workers.

A config may name code: `env.imports` (modules whose `gymnasium.register` calls must run first), the module of an
`env.id` written `module:Env-v0`, `env.wrappers` and `env.training_wrappers` (applied after them to the
training env only: RL Zoo's Atari reward clipping and life-loss episodes, with evaluation on the real game).
They are imported from `env.import_path` (the directory
`train` ran in, recorded in the run's config.yaml, so another working directory finds them too), then from the
installed packages. A checkpoint names no code: this is the one place a run imports anything of the user's.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
from typing import Any

from neurenix_cli.config.messages import Checker

FRAME_STACK = "gymnasium.wrappers.FrameStackObservation"  # env.frame_stack's wrapper


@dataclasses.dataclass(frozen=True)
class Wrapping:
    """One entry of env.wrappers, resolved: wraps each copy of the env (picklable, for worker processes)."""

    name: str  # as the config writes it
    cls: Any
    kwargs: dict

    def __call__(self, env: Any) -> Any:
        return self.cls(env, **self.kwargs)


def names_code(env: dict) -> bool:
    """Whether the env block imports anything of the user's (and so needs its import_path recorded)."""
    return bool(
        env.get("imports")
        or env.get("wrappers")
        or env.get("training_wrappers")
        or ":" in str(env.get("id", ""))
    )


def load(env: dict, check: Checker, training: bool = False) -> list[Wrapping]:
    """Import what the env block names (its register calls run) and return its wrappers, in order: env.wrappers,
    the frame stack of env.frame_stack over them (RL Zoo's VecFrameStack over its env_wrapper), then with
    `training` env.training_wrappers."""
    path = env.get("import_path")
    if path and path not in sys.path:
        sys.path.insert(0, path)
    # A module written after this interpreter started (a test, a notebook) is invisible to cached listings.
    importlib.invalidate_caches()
    for name in env.get("imports") or ():
        _import(name, "env.imports", env, check)
    if ":" in env["id"]:
        _import(env["id"].split(":", 1)[0], "env.id", env, check)
    wrappers = [_wrapping(spec, env, check) for spec in env.get("wrappers") or ()]
    if env.get("frame_stack", 1) > 1:
        wrappers.append(
            _wrapping({FRAME_STACK: {"stack_size": env["frame_stack"]}}, env, check, "env.frame_stack")
        )
    if training:
        wrappers += [
            _wrapping(spec, env, check, "env.training_wrappers")
            for spec in env.get("training_wrappers") or ()
        ]
    return wrappers


def make(env: dict, source: str, n_envs: int, seed: int | None, training: bool = False) -> Any:
    """The vector env of `n_envs` wrapped copies; `source` names the config in errors. The training env
    (`training`) adds env.training_wrappers and is vectorised as env.vectorization asks (VecEnv, or AsyncVecEnv
    whose workers each build their copy through `EnvCopy`); an evaluation's env is a VecEnv in this process."""
    if training and env.get("vectorization", "sync") == "async":
        from neurenix.rl.async_env import AsyncVecEnv

        return AsyncVecEnv(
            [EnvCopy(env, source, training)] * n_envs, seed=seed, action_mask_key=env.get("action_mask_key")
        )
    from neurenix.rl.environment import make_env

    wrappers = load(env, Checker(source), training)
    return make_env(
        env["id"],
        n_envs=n_envs,
        seed=seed,
        wrappers=wrappers,
        action_mask_key=env.get("action_mask_key"),
        **(env.get("kwargs") or {}),
    )


@dataclasses.dataclass(frozen=True)
class EnvCopy:
    """One wrapped copy of the env of an `env:` block, built in the process that calls it: picklable, so that a
    worker process imports the user's modules (env.imports, a `module:` id, the wrappers) itself."""

    env: dict
    source: str
    training: bool = False

    def __call__(self) -> Any:
        from neurenix.rl.environment import make_copy

        wrappers = load(self.env, Checker(self.source), self.training)
        return make_copy(self.env["id"], wrappers, **(self.env.get("kwargs") or {}))


def split(spec: str | dict) -> tuple[str, dict]:
    """(`module:Class` or `dotted.path.Class`, keyword arguments) of one env.wrappers entry."""
    if isinstance(spec, str):
        return spec, {}
    ((name, kwargs),) = spec.items()
    return name, dict(kwargs or {})


def _wrapping(spec: str | dict, env: dict, check: Checker, key: str = "env.wrappers") -> Wrapping:
    name, kwargs = split(spec)
    module_name, _, attribute = name.partition(":") if ":" in name else name.rpartition(".")
    obj = _import(module_name, key, env, check)
    try:
        cls = functools.reduce(getattr, attribute.split("."), obj)
    except AttributeError:
        raise check.error(
            key,
            f"module {module_name} has no {attribute!r}, so wrapper {name} cannot be found.",
            f"Check the spelling of the class in `{name}`.",
        ) from None
    if not callable(cls):
        raise check.error(
            key,
            f"{name} is not a class (a {type(cls).__name__}).",
            "Name a gymnasium wrapper class.",
        )
    return Wrapping(name, cls, kwargs)


def _import(name: str, key: str, env: dict, check: Checker) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    where = env.get("import_path")
    looked = f"in {where} (env.import_path) nor among" if where else "among"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
            raise check.error(
                key,
                f"module {name} imports {exc.name}, which is not installed.",
                f"Install {exc.name} into the environment neurenix runs in.",
            ) from None
        from neurenix.rl.environment import extra_installing

        extra = extra_installing(exc.name) if "." not in exc.name else None  # the package itself is missing
        if extra is not None:
            raise check.error(
                key,
                f"module {name} cannot be imported: {exc.name} is not installed.",
                f"pip install 'neurenix[{extra}]'.",
            ) from None
        raise check.error(
            key,
            f"module {name} cannot be imported: there is no {exc.name} {looked} the installed packages.",
            "Put it in that directory, set env.import_path to the directory that holds it (a run's "
            "config.yaml records the directory `train` ran in), or install it (`pip install -e .`).",
        ) from None
    except Exception as exc:  # the user's own code: a SyntaxError, a failing register call, ...
        raise check.error(
            key,
            f"importing module {name} raised {type(exc).__name__}: {exc}.",
            f"Fix module {name}; `python -c 'import {name}'` shows the traceback.",
        ) from None

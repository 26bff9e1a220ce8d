"""Every exception class of both packages crosses a process boundary (Ray, multiprocessing, a sweep's workers)
intact: pickled and unpickled, it keeps its type, message and fields. The classes are found by walking the
packages, so a new one is covered without editing this file."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import signal
import types
import typing

import pytest

import neurenix
import neurenix_cli

MESSAGE = "what went wrong, and how to fix it"
SAMPLES = {
    int: int(signal.SIGTERM),  # the one int field today is a signal number
    float: 0.5,
    bool: True,
    dict: {"run_dir": "runs/dqn", "total_steps": 8192},
    list: ["agent.learning_rate"],
}


def defined_exceptions() -> list[type[BaseException]]:
    """Every BaseException subclass defined (not just imported) in a module of neurenix or neurenix_cli."""
    found = set()
    for package in (neurenix, neurenix_cli):
        names = [package.__name__]
        names += [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
        for name in names:
            if name.endswith(".__main__"):  # importing it starts the CLI
                continue
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found.add(value)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def sample(annotation: typing.Any, name: str) -> typing.Any:
    """A value of the annotated type; strings are told apart by the parameter they fill."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = [a for a in typing.get_args(annotation) if a is not type(None)] if union else [annotation]
    kind = typing.get_origin(options[0]) or options[0]
    if kind in (str, object, typing.Any):
        return f"the {name}"
    if kind not in SAMPLES:
        pytest.fail(f"no sample value for a parameter {name}: {annotation}; add one to SAMPLES")
    return SAMPLES[kind]


def sample_arguments(cls: type[BaseException]) -> tuple[list, dict]:
    """Arguments for every parameter of the class's own `__init__` (optional ones too, so that a field left at
    its default cannot hide a field that pickling loses)."""
    init = next(
        (k.__init__ for k in cls.__mro__ if "__init__" in vars(k) and k.__module__ != "builtins"), None
    )
    if init is None:
        return [MESSAGE], {}
    hints = typing.get_type_hints(init)
    args, kwargs = [], {}
    for parameter in list(inspect.signature(init).parameters.values())[1:]:
        if parameter.kind is parameter.VAR_POSITIONAL:
            args.append(MESSAGE)
        elif parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = sample(hints.get(parameter.name, str), parameter.name)
        elif parameter.kind is not parameter.VAR_KEYWORD:
            args.append(sample(hints.get(parameter.name, str), parameter.name))
    return args, kwargs


EXCEPTIONS = defined_exceptions()


def test_the_walk_finds_the_errors_of_both_packages():
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"ConfigError", "CheckpointError", "ConfigFileError", "RunDirError", "RunInterrupted"} <= names


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_error_survives_pickle_with_its_message_and_fields(cls):
    args, kwargs = sample_arguments(cls)
    error = cls(*args, **kwargs)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)

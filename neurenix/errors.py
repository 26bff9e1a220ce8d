"""Typed errors the library raises; the CLI maps them to messages and exit codes."""

from __future__ import annotations

import copyreg


class PicklableError(BaseException):
    """An error that survives pickle (Ray, multiprocessing, a sweep's workers) with its message and fields.

    BaseException unpickles as `cls(*args)`, but an error whose `__init__` takes other parameters than the
    message it passes on (ConfigFileError's source and problem) then fails with a TypeError that hides the
    message. This rebuilds the error with `cls.__new__` instead, and restores its fields.
    """

    def __reduce__(self):
        return copyreg.__newobj__, (type(self), *self.args), self.__dict__


class NeurenixError(PicklableError, Exception):
    """Base of every error a user can cause and fix: the message says what is wrong and what to do."""


class ConfigError(NeurenixError, ValueError):
    """A hyperparameter, space spec or training budget is invalid.

    `key`, when the raiser knows it, names the argument at fault (`learning_rate`), so that a caller can point
    at it without parsing the message; None otherwise.
    """

    def __init__(self, *args: object, key: str | None = None) -> None:
        super().__init__(*args)
        self.key = key


class EnvironmentNotFoundError(NeurenixError):
    """An environment id that gymnasium does not know."""


class CheckpointError(NeurenixError):
    """A checkpoint is missing, corrupt, from another algorithm or spaces, or from a newer format."""


class EnvWorkerError(PicklableError, RuntimeError):
    """A vector env's worker process died or can no longer be stepped (AsyncVecEnv); the env's own exceptions
    are raised as themselves."""


class TrainingDivergedError(NeurenixError):
    """A loss, parameter or observation became NaN or infinite."""

"""Hyperparameters as data: each algorithm declares its own once, as a frozen dataclass of documented fields.

A field carries its type (the annotation), its default, one line of documentation (with its unit: per env step,
per update, ...) and its bounds. From that one record the constructor takes its keyword arguments, every value is
checked (a ConfigError whose `key` names the argument), `hyperparameters()` and checkpoints store the values,
`inspect.signature(DQN)` shows them, and the CLI validates a YAML `agent:` block and writes `neurenix schema`.
A record extends another as dataclasses do: TD3's adds three fields to DDPG's, and a field declared again only
changes its default (PPO's `n_steps`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import typing
from typing import Any, NamedTuple

from neurenix.errors import ConfigError
from neurenix.rl.checks import check_choice, check_hidden_dims, check_int, check_range


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a field says beyond its type and default. Bounds apply to numbers: `low <= value <= high` (`low <
    value` when `low_open`); `choices` lists the strings a string field (or a number-or-string one) may take."""

    doc: str
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None


def hyperparameter(
    default: Any,
    doc: str,
    *,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A documented field of a hyperparameter record (use it as the field's default)."""
    spec = Spec(doc, unit, low, high, low_open, None if choices is None else tuple(choices))
    return dataclasses.field(default=default, metadata={"spec": spec})


SCHEDULES = ("constant", "linear")


def lr_schedule_field() -> Any:
    """The `lr_schedule` field of every algorithm with optimizers (one text for all)."""
    return hyperparameter(
        "constant",
        "The learning rates' schedule: constant, or linear from the set value to 0 over the training budget "
        "(RL Zoo's lin_X).",
        choices=SCHEDULES,
    )


def step_size(default: float, whose: str) -> Any:
    """The step-size field of an optimizer: in (0, 1], per gradient step."""
    return hyperparameter(
        default, f"Step size of {whose}.", unit="per gradient step", low=0.0, high=1.0, low_open=True
    )


def redeclared(record: type[Hyperparameters], name: str, default: Any, **changes: Any) -> Any:
    """`record`'s field `name` with another default (and any Spec field in `changes`, e.g. its unit): how an
    extending record changes a default without repeating the documentation and bounds."""
    spec = next(field.spec for field in record.declared() if field.name == name)
    return dataclasses.field(default=default, metadata={"spec": dataclasses.replace(spec, **changes)})


class Field(NamedTuple):
    """One declared hyperparameter, as readers of the record (the CLI, the schema) see it."""

    name: str
    annotation: Any  # a real type: `float`, `list[int]`, `float | None`, ...
    default: Any
    spec: Spec

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.annotation)

    @property
    def value_type(self) -> Any:
        """The annotation without its `| None`."""
        args = [a for a in typing.get_args(self.annotation) if a is not type(None)]
        if self.optional and len(args) == 1:
            return args[0]
        return self.annotation


@dataclasses.dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """What every agent has; an algorithm's record extends it."""

    name: str = hyperparameter("Agent", "A label for logs and the checkpoint; it changes no number.")
    gamma: float = hyperparameter(
        0.99, "Discount factor applied to the next step's value.", unit="per env step", low=0.0, high=1.0
    )

    def __post_init__(self) -> None:
        for field in self.declared():
            value = getattr(self, field.name)
            checked = check_value(field, value)
            if checked is not value:
                object.__setattr__(self, field.name, checked)
        self.check()

    def check(self) -> None:
        """Checks that involve more than one field; a record with some overrides this and calls super()."""

    @classmethod
    def declared(cls) -> tuple[Field, ...]:
        return _declared(cls)

    @classmethod
    def build(cls, algorithm: str, values: dict[str, Any]) -> Hyperparameters:
        """The record of `values` (the constructor's keyword arguments); an unknown name is a ConfigError."""
        names = [field.name for field in cls.declared()]
        for key in values:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else f" It takes: {', '.join(names)}."
                raise ConfigError(f"{algorithm} has no hyperparameter {key!r}.{hint}", key=key)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The values, JSON-able (tuples as lists), in declaration order."""
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in self.declared()
            for value in (getattr(self, field.name),)
        }

    @classmethod
    def signature(cls, *leading: inspect.Parameter) -> inspect.Signature:
        """The constructor's signature: `leading` parameters, then every field as a keyword argument."""
        keywords = [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.annotation
            )
            for f in cls.declared()
        ]
        return inspect.Signature([*leading, *keywords])


@functools.cache
def _declared(cls: type) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        Field(f.name, hints[f.name], f.default, f.metadata["spec"])
        for f in dataclasses.fields(cls)
        if "spec" in f.metadata
    )


def check_value(field: Field, value: Any) -> Any:
    """`value` if it fits `field` (a tuple for a list of ints, a float for an int given as a float field),
    else a ConfigError naming the field."""
    name, spec, kind = field.name, field.spec, field.value_type
    if value is None and field.optional:
        return value
    low = -math.inf if spec.low is None else spec.low
    high = math.inf if spec.high is None else spec.high
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
        elif kind is int:
            check_int(name, value, 0 if spec.low is None else spec.low, high)
            value = int(value)
        elif kind is float:
            check_range(name, value, low, high, low_open=spec.low_open)
            value = float(value)
        elif kind is str:
            if not isinstance(value, str):
                raise ConfigError(f"{name} must be a string, got {value!r}")
            if spec.choices is not None:
                check_choice(name, value, spec.choices)
        elif typing.get_origin(kind) is list:
            check_hidden_dims(name, value)
            value = tuple(int(v) for v in value)
        elif isinstance(value, str):  # a number or one of a few words (SAC's target_entropy: "auto")
            if value not in (spec.choices or ()):
                words = " or ".join(repr(c) for c in spec.choices or ())
                raise ConfigError(f"{name} must be a number or {words}, got {value!r}")
        else:
            check_range(name, value, low, high, low_open=spec.low_open)
            value = float(value)
    except ConfigError as error:
        if error.key is None:
            error.key = name
        raise
    return value

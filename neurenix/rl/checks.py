"""Validation of constructor arguments, shared by every algorithm: each raises ConfigError naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurenix.errors import ConfigError


def check_range(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    """Raise ConfigError unless low <= value <= high (low < value when low_open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}", key=name)
    if not (low < value if low_open else low <= value) or value > high:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name} must be in {bracket}{low}, {high}], got {value}", key=name)


def check_int(name: str, value: Any, low: float = 1, high: float = float("inf")) -> None:
    """Raise ConfigError unless value is an integer (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        bounds = f">= {int(low)}" if high == float("inf") else f"in [{int(low)}, {int(high)}]"
        raise ConfigError(f"{name} must be an integer {bounds}, got {value!r}", key=name)


def check_hidden_dims(name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ConfigError(
            f"{name} must be a list of positive integers (empty: the output layer reads the inputs or the encoder's "
            f"features directly), got {value!r}",
            key=name,
        )


def check_choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ConfigError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}", key=name
        )

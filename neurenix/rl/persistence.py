"""Checks of an agent checkpoint's metadata and the restoring of its state, for `BaseAgent.load` and `load_agent`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurenix.checkpoint import flatten_state, unflatten_state
from neurenix.errors import CheckpointError
from neurenix.rl.buffers import ReplayBuffer

if TYPE_CHECKING:
    from neurenix.rl.base import BaseAgent


def check_agent_meta(meta: dict, path: Any, expected_class: str | None = None) -> None:
    if meta.get("kind") != "agent":
        raise CheckpointError(f"Checkpoint {path} does not hold an agent (kind {meta.get('kind')!r}).")
    if expected_class is not None and meta.get("class") != expected_class:
        raise CheckpointError(f"Checkpoint {path} holds a {meta.get('class')} agent, not a {expected_class}.")
    if not isinstance(meta.get("hyperparameters"), dict) or not isinstance(meta.get("state", {}), dict):
        raise CheckpointError(f"Checkpoint {path} has malformed metadata (hyperparameters or state).")


def restore_state(agent: BaseAgent, arrays: dict, meta: dict, path: Any) -> None:
    _, expected = flatten_state(agent.state_dict())
    problem = _type_mismatch(expected, meta.get("state", {}), "state")
    if problem:
        raise CheckpointError(f"Checkpoint {path} has malformed metadata: {problem}.")
    try:
        state = unflatten_state(arrays, meta.get("state", {}))
        replay = state.pop("replay_buffer", None)
        agent.load_state_dict(state)
        if replay is not None and isinstance(getattr(agent, "buffer", None), ReplayBuffer):
            agent.buffer.load_state_dict(replay)
    except Exception as error:
        # Every algorithm's load_state_dict indexes and converts what the file holds; whatever it raises on a
        # state of the wrong shape (KeyError, TypeError, AttributeError, ...) means the checkpoint does not fit.
        raise CheckpointError(
            f"Checkpoint {path} does not match this agent's networks or state: {type(error).__name__}: {error}."
        ) from None


def _type_mismatch(expected: Any, actual: Any, where: str) -> str | None:
    """Where the JSON state `actual` differs in kind from `expected` (a fresh agent's own state): loaders
    convert with int()/float(), which would quietly accept counters written as strings. Numbers of either kind
    match each other, and null matches anything (optional values); keys only one side has are left to the
    loader."""
    if expected is None or actual is None:
        return None
    kinds = {(bool,): "true or false", (int, float): "a number", (str,): "a string", (list,): "a list"}
    kinds[(dict,)] = "a mapping"
    kind = next((k for k in kinds if isinstance(expected, k)), None)
    if kind is None:
        return None
    if not isinstance(actual, kind) or (isinstance(actual, bool) and kind != (bool,)):
        return f"{where} is {actual!r:.40}, expected {kinds[kind]}"
    if isinstance(expected, dict):
        for key in (key for key in expected if key in actual):
            problem = _type_mismatch(expected[key], actual[key], f"{where}.{key}")
            if problem:
                return problem
    return None

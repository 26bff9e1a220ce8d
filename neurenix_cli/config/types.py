"""The small type system of the `agent:` and `train:` keys: what a YAML value must be for a constructor annotation.

`coerce` checks and converts, `describe` puts a type in words for messages and `type_schema` gives its JSON
Schema; the three read annotations the same way, so a message, the check and the schema say the same thing.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any

SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence)  # a YAML list
MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)  # a YAML mapping


def _checks_nothing(annotation: Any) -> bool:
    """No annotation, Any, object or a type variable: every value passes."""
    return annotation in (inspect.Parameter.empty, Any, object) or isinstance(annotation, typing.TypeVar)


def _fixed_length(container: Any, args: tuple) -> bool:
    """`tuple[int, str]` (one type per position), not `tuple[int, ...]` or a bare `tuple`."""
    return container is tuple and bool(args) and not (len(args) == 2 and args[1] is Ellipsis)


def coerce(value: Any, annotation: Any) -> Any:
    """Return `value` as `annotation` asks (ints for floats, numeric strings like YAML's `1e-3`), or TypeError.

    YAML 1.1 reads `1e-3` (no dot) as a string; accepting numeric strings where a number is expected saves every
    user that surprise.
    """
    if _checks_nothing(annotation):
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
    if container in SEQUENCES:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        if _fixed_length(container, args):
            if len(value) != len(args):
                raise TypeError
            return [coerce(v, a) for v, a in zip(value, args)]
        item = args[0] if args else Any
        return [coerce(v, item) for v in value]
    if container in MAPPINGS:
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
    if container in SEQUENCES:
        if _fixed_length(container, args):
            return f"a list of {len(args)} values ({', '.join(describe(a) for a in args)})"
        if args:
            inner = describe(args[0])
            plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}.get(
                inner, inner
            )
            return f"a list of {plural}"
        return "a list"
    if container in MAPPINGS:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def to_annotation_container(value: Any, annotation: Any) -> Any:
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


def plain(value: Any) -> Any:
    """Tuples to lists and numpy scalars/arrays to Python, so the config dumps as plain YAML/JSON."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())
    return value


def type_schema(annotation: Any) -> dict:
    """The JSON Schema of what `coerce` accepts for `annotation` ({} where it checks nothing)."""
    if _checks_nothing(annotation):
        return {}
    if annotation is None or annotation is type(None):
        return {"type": "null"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        arms = [type_schema(arm) for arm in args]
        return {} if {} in arms else {"anyOf": arms}
    if origin is typing.Literal:
        return {"enum": list(args)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in simple:
        return {"type": simple[annotation]}
    container = origin or annotation
    if container in SEQUENCES:
        if _fixed_length(container, args):
            items = [type_schema(a) for a in args]
            return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if container in MAPPINGS:
        return {"type": "object"}
    return {}

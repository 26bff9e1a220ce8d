"""The config's type system: what a YAML value must be for a constructor annotation."""

from __future__ import annotations

import pytest

from neurenix_cli.config import coerce


def test_coerce_follows_annotations():
    assert coerce(3, float) == 3.0 and isinstance(coerce(3, float), float)
    assert coerce(None, int | None) is None
    assert coerce([1, 2], tuple[int, ...]) == [1, 2]
    assert coerce("3", int | str) == "3", "an exact match wins over coercion"
    for value, annotation in [(True, int), (1, bool), ("x", float), ([1], dict[str, int]), (2, list[int])]:
        with pytest.raises(TypeError):
            coerce(value, annotation)

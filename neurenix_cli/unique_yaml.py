"""YAML read as `yaml.safe_load` reads it, except that a key given twice in one mapping is an error: PyYAML would
silently keep the last one. Every reader of a config uses this one loader (validation, `list configs`, `plot`);
it needs only PyYAML, so `neurenix list configs` stays free of the engine."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """`key` (a dotted path) given twice in one mapping, at `places` (`lines 3 and 7`)."""

    def __init__(self, key: str, places: str) -> None:
        super().__init__(key, places)
        self.key, self.places = key, places

    def __str__(self) -> str:
        return f"{self.key} appears twice, at {self.places}"


def load(text: str, path: str = "") -> Any:
    """The document in `text`; `path` is the dotted key it is the value of (a `--set` value), for messages."""
    paths: dict[yaml.Node, str] = {}  # each mapping's dotted key path, recorded by the mapping that holds it

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
            if isinstance(node, yaml.MappingNode):
                where = paths.get(node, path)
                first_marks: dict[Any, yaml.Mark] = {}
                for key_node, value_node in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # `<<: *defaults` brings keys that the mapping's own may override, by design
                    key = self.construct_object(key_node)
                    dotted = f"{where}.{key}" if where else str(key)
                    try:
                        first = first_marks.setdefault(key, key_node.start_mark)
                    except TypeError:
                        continue  # an unhashable key: SafeLoader refuses it with its own error
                    if first is not key_node.start_mark:
                        raise DuplicateKeyError(dotted, _places(first, key_node.start_mark))
                    paths[value_node] = dotted
            return super().construct_mapping(node, deep=deep)

    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _places(first: yaml.Mark, second: yaml.Mark) -> str:
    if first.line == second.line:
        return f"line {first.line + 1}, columns {first.column + 1} and {second.column + 1}"
    return f"lines {first.line + 1} and {second.line + 1}"

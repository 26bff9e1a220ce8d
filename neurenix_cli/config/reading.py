"""Reading a config: the YAML file, `--set KEY=VALUE` overrides and `--seed`; and writing a resolved one back."""

from __future__ import annotations

import collections.abc
import platform
from pathlib import Path
from typing import Any

from neurenix_cli import unique_yaml
from neurenix_cli.config.messages import ConfigFileError, show
from neurenix_cli.config.validation import Prepared, prepare


def load_config(
    path: str | Path, overrides: collections.abc.Sequence[str] = (), seed: int | None = None
) -> dict:
    """Read a YAML config, apply `--set K=V` overrides and `--seed`, validate, and return the resolved config."""
    return load_prepared(path, overrides, seed).config


def load_prepared(
    path: str | Path, overrides: collections.abc.Sequence[str] = (), seed: int | None = None
) -> Prepared:
    """`load_config`, keeping the agent validation built: `experiment.train` given this trains that agent
    instead of validating and building again."""
    raw = read_yaml(path)
    raw, origins = apply_overrides(raw, overrides, source=str(path))
    if seed is not None:
        raw["seed"] = seed
        origins["seed"] = f"--seed {seed}"
    return prepare(raw, source=str(path), origins=origins)


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
        data = load_yaml(text, str(path))
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
            f"must be a mapping at the top level, got {show(data)}.",
            "Start from configs/dqn_cartpole.yaml.",
        )
    return data


def load_yaml(text: str, source: str, path: str = "", via: str | None = None) -> Any:
    """`unique_yaml.load`, its duplicate key a ConfigFileError naming the file (or the `--set`, `via`) and
    both places. `path` is the dotted key a `--set` value is given for."""
    try:
        return unique_yaml.load(text, path)
    except unique_yaml.DuplicateKeyError as exc:
        raise ConfigFileError(
            source,
            exc.key,
            f"appears twice, at {exc.places}{' of the value' if via else ''}; YAML would keep only the last.",
            "Keep one of them (merge the two if both hold settings).",
            via=via,
        ) from None


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
            value = load_yaml(value_text, source, path=key, via=text) if value_text.strip() else None
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
                    f"{prefix} is {show(child)}, not a mapping, so it has no keys.",
                    f"Set {prefix} itself (e.g. --set {prefix}=...).",
                    via=text,
                )
            node = child
        node[parts[-1]] = value
        origins[key] = text
    return raw, origins


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

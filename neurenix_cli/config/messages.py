"""Config errors and the words they use: where (file, dotted key, the `--set` it came from), what, how to fix."""

from __future__ import annotations

import collections.abc
import difflib
from typing import Any

from neurenix.errors import ConfigError
from neurenix_cli.config.types import coerce, describe


class ConfigFileError(ConfigError):
    """A config problem located at a key path of a file (or of an override); its `key` is that dotted path
    (None for a problem of the whole file)."""

    def __init__(self, source: str, path: str, problem: str, fix: str = "", via: str | None = None):
        self.source, self.path, self.problem, self.fix, self.via = source, path, problem, fix, via
        where = f"{source}: {path}" if path else source
        if via:
            where += f" (set by --set {via})"
        super().__init__(f"{where}: {problem}" + (f" {fix}" if fix else ""), key=path or None)


class Checker:
    """Raises ConfigFileError with the file name and the override a key came from."""

    def __init__(self, source: str, origins: dict[str, str] | None = None):
        self.source = source
        self.origins = origins or {}

    def error(self, path: str, problem: str, fix: str = "") -> ConfigFileError:
        via = None
        for key, text in self.origins.items():
            if path == key or path.startswith(key + ".") or key.startswith(path + "."):
                via = text
                break
        return ConfigFileError(self.source, path, problem, fix, via)

    def mapping(self, value: Any, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                path,
                f"must be a mapping of keys to values, got {show(value)}.",
                f"Write it as `{path.rsplit('.', 1)[-1]}: {{key: value, ...}}` or as indented keys.",
            )
        for key in value:
            if not isinstance(key, str):
                raise self.error(
                    f"{path}.{key}" if path else str(key),
                    f"keys must be strings, got {show(key)}.",
                    "Quote the key.",
                )
        return value

    def unknown_keys(
        self,
        mapping: dict,
        valid: collections.abc.Iterable[str],
        path: str,
        hints: dict[str, str] | None = None,
        renamed: dict[str, str] | None = None,
    ) -> None:
        """Refuse a key not in `valid`; `hints` tells where a key that is set elsewhere belongs instead, and
        `renamed` what another library's name (SB3's `clip_range`) is called here."""
        valid = list(valid)
        for key in mapping:
            if key not in valid:
                where = f"{path}.{key}" if path else key
                if hints and key in hints:
                    raise self.error(where, f"is not set under `{path}:`.", hints[key])
                if renamed and key in renamed:
                    raise self.error(where, "unknown key.", renamed[key])
                raise self.error(
                    where, "unknown key.", did_you_mean(key, valid) + f" Valid keys: {', '.join(valid)}."
                )

    def typed(self, value: Any, annotation: Any, path: str, minimum: float | None = None) -> Any:
        try:
            value = coerce(value, annotation)
        except TypeError:
            raise self.error(
                path,
                f"expects {describe(annotation)}, got {show(value)}.",
                f"Set it to {describe(annotation)}.",
            ) from None
        if (
            minimum is not None
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value < minimum
        ):
            raise self.error(
                path, f"must be at least {minimum:g}, got {value!r}.", f"Set it to {minimum:g} or more."
            )
        return value


def did_you_mean(word: str, candidates: collections.abc.Iterable[str]) -> str:
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean {lowered[close[0]]!r}?" if close else ""


def show(value: Any) -> str:
    import reprlib

    # reprlib bounds the work, not just the text: repr() of a large value would build all of it first.
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 8, 8, 60, 60
    text = short.repr(value)
    kind = type(value).__name__
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if len(text) > 60:
        text = text[:57] + "..."
    words = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "list": "a list",
        "dict": "a mapping",
    }
    return f"{text} ({words[kind]})" if kind in words else text


def inline(spec: Any) -> str:
    import json

    return json.dumps(spec, separators=(", ", ": "))

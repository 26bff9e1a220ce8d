"""Optional integrations (TensorBoard, plots, videos, Ray): imported only by the features that use them.

`train` and `eval` never need an extra. A feature that does calls `require`, so a missing package is a usage
error (exit 2) with the one line that fixes it, instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(Exception):
    """A feature needs an optional dependency that is not installed: a usage error, exit 2."""


def install_hint(extra: str) -> str:
    return f"pip install 'neurenix[{extra}]'"


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise MissingExtraError telling how to install the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the optional package {module.split('.')[0]} ({exc}); install it with "
            f"`{install_hint(extra)}`."
        ) from None

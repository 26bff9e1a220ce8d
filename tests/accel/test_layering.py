"""neurenix._accel sits under the engine: tensor, nn, optim and rl import it, and it imports none of them.

Imports under `if TYPE_CHECKING:` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import neurenix._accel

ACCEL = Path(neurenix._accel.__file__).parent


def _runtime_imports(tree: ast.Module) -> list[str]:
    typing_only = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and ast.unparse(guard.test) == "TYPE_CHECKING"
        for child in guard.body
        for node in ast.walk(child)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_accel_imports_nothing_of_the_library_outside_itself():
    outside = {
        f"{path.name}: {name}"
        for path in sorted(ACCEL.glob("*.py"))
        for name in _runtime_imports(ast.parse(path.read_text()))
        if name.split(".")[0] == "neurenix" and not name.startswith("neurenix._accel")
    }
    assert not outside

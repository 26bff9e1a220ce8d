"""ARCHITECTURE.md matches the code: every part it names exists, and every import between parts is an arrow it
draws (its `imports` block: `part -> part, part`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = (ROOT / "ARCHITECTURE.md").read_text()


def drawn_arrows() -> dict[str, set[str]]:
    block = re.search(r"```imports\n(.*?)```", MAP, re.S)
    assert block, "ARCHITECTURE.md has no ```imports block"
    arrows = {}
    for line in block.group(1).splitlines():
        if line.strip():
            source, _, targets = line.partition("->")
            arrows[source.strip()] = {t.strip() for t in targets.split(",") if t.strip()}
    return arrows


ARROWS = drawn_arrows()
PARTS = sorted(set(ARROWS) | {t for targets in ARROWS.values() for t in targets}, key=len, reverse=True)


def part_of(module: str) -> str | None:
    """The longest part that is `module` or contains it."""
    return next((p for p in PARTS if module == p or module.startswith(p + ".")), None)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _run_time_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations, never executed)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            continue
        yield node
        yield from _run_time_nodes(node)


def imports(path: Path) -> set[str]:
    found = set()
    for node in _run_time_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("neurenix", "neurenix_cli")}


def test_every_part_the_map_names_exists():
    for part in PARTS:
        path = ROOT / Path(*part.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), part


def test_every_import_between_parts_is_an_arrow_of_the_map():
    undrawn = set()
    for path in sorted([*(ROOT / "neurenix").rglob("*.py"), *(ROOT / "neurenix_cli").rglob("*.py")]):
        source = part_of(module_name(path))
        assert source is not None, f"{path} belongs to no part of ARCHITECTURE.md"
        for name in imports(path):
            target = part_of(name)
            # `from neurenix import x` names the package's front door unless x is itself a part.
            if target is None or target == source or target in ARROWS.get(source, ()):
                continue
            undrawn.add(f"{source} -> {target} ({path.relative_to(ROOT)})")
    assert not undrawn, "imports the map does not draw:\n" + "\n".join(sorted(undrawn))

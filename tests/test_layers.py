"""The layers: the sans-IO core (tornado_h1alt/h1) imports nothing from Tornado,
nor anything of the package outside the core."""

from __future__ import annotations

import ast
import pathlib
from typing import List, Tuple

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "tornado_h1alt" / "h1"
CORE_MODULES = sorted(CORE.glob("*.py"))


def _imports(path: pathlib.Path) -> List[Tuple[int, str]]:
    """(level, module) for every import in the file: level 0 is absolute."""
    found: List[Tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_core_has_its_modules() -> None:
    names = {path.stem for path in CORE_MODULES}
    assert {"abnf", "buffer", "chunked", "events", "exchange", "readers", "writers"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda path: path.name)
def test_the_core_imports_only_the_standard_library_and_itself(path: pathlib.Path) -> None:
    for level, module in _imports(path):
        if level == 0:
            top = module.split(".")[0]
            assert top not in ("tornado", "tornado_h1alt"), (path.name, module)
        else:
            # Relative imports stay inside tornado_h1alt.h1.
            assert level == 1, (path.name, level, module)

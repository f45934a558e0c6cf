"""The core names no particular ledger and imports no plugin: a ledger is one folder,
``plugins/<name>/``. Docstrings and comments may name ledgers as examples; code may not."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "wisesync"
LEDGER_NAMES = re.compile(r"xero|accrec|quickbooks|qbo", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _words(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every identifier and non-docstring string of a module, with its line."""
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.arg):
            yield line, node.arg
        elif isinstance(node, ast.alias):
            yield line, node.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module


def test_no_core_code_names_a_ledger() -> None:
    named = [
        f"{path.relative_to(CORE.parent)}:{line}: {word[:60]!r}"
        for path in sorted(CORE.rglob("*.py"))
        for line, word in _words(ast.parse(path.read_text()))
        if LEDGER_NAMES.search(word)
    ]
    assert named == [], "the core names a ledger outside docstrings:\n" + "\n".join(named)


def test_no_core_module_imports_a_plugin_package() -> None:
    imports = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            imports += [
                f"{path.relative_to(CORE.parent)}:{node.lineno}: {n}"
                for n in names
                if not n.startswith("wisesync.") and n.split(".")[0].startswith("wisesync_")
            ]
    assert imports == [], "the core imports a plugin:\n" + "\n".join(imports)

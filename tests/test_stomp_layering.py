"""nexus_tornado.stomp is the bottom layer: standard library (and nexus_tornado.errors) only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STOMP = ROOT / "nexus_tornado" / "stomp"


def test_importing_stomp_loads_no_tornado_or_sockjs() -> None:
    # Compare with what the interpreter had loaded before: sockjs-tornado's
    # namespace-package .pth file creates an empty ``sockjs`` module at start-up.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import nexus_tornado.stomp\n"
        "third_party = ('tornado', 'sockjs', 'motor', 'pymongo', 'jwt', 'cerberus')\n"
        "bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in third_party)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def _imports(path: Path) -> list:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
@pytest.mark.parametrize("path", sorted(STOMP.glob("*.py")), ids=lambda p: p.name)
def test_stomp_modules_import_only_stdlib_and_errors(path: Path) -> None:
    for level, module in _imports(path):
        if level == 0:
            assert module.split(".")[0] in sys.stdlib_module_names or module == "__future__", module
        elif level == 1:
            continue  # a sibling inside nexus_tornado.stomp
        else:
            assert (level, module) == (2, "errors"), (level, module)

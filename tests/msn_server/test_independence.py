"""The MSN test server never imports the bridge (``bridge.msnp`` above all): it must catch the
client's bugs, not share them."""

from __future__ import annotations

from pathlib import Path
import ast
import subprocess
import sys

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    package = "tests.msn_server"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.append(node.module)
    return names


def test_no_module_imports_the_bridge() -> None:
    files = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("test_"))
    assert len(files) > 5
    bad = [
        f"{path.name}: {name}"
        for path in files
        for name in _imports(path)
        if name == "bridge" or name.startswith("bridge.") or not _allowed_tests_import(name)
    ]
    assert not bad, bad


def _allowed_tests_import(name: str) -> bool:
    return not name.startswith("tests.") or name.startswith("tests.msn_server")


def test_server_imports_and_runs_with_the_bridge_blocked() -> None:
    code = (
        "import sys\n"
        "sys.modules['bridge'] = None\n"
        "import tests.msn_server, tests.msn_server.__main__, tests.msn_server.rawclient\n"
        "import tests.msn_server.fixtures, tests.msn_server.seed\n"
        "leaked = sorted(m for m in sys.modules if m == 'bridge' or m.startswith('bridge.'))\n"
        "assert leaked == ['bridge'], leaked\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"

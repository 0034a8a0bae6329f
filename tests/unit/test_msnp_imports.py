"""``bridge/msnp`` is a standalone library: no mautrix, no other ``bridge.*`` package.

Both checks look at whatever modules exist when the test runs, so modules added later are
covered too.
"""

from __future__ import annotations

from pathlib import Path
import ast
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
MSNP = ROOT / "bridge" / "msnp"
ALLOWED_THIRD_PARTY = {"aiohttp", "yarl", "cryptography"}  # cryptography: 3DES of the SSO MBI key


def _modules() -> list[Path]:
    files = sorted(MSNP.rglob("*.py"))
    assert files, "bridge/msnp has no modules?"
    return files


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "bridge":
                # "from bridge import config" imports bridge.config ("from bridge import msnp" is ok)
                out.extend((node.lineno, f"bridge.{alias.name}") for alias in node.names)
            else:
                out.append((node.lineno, target))
    return out


def _forbidden(name: str) -> bool:
    top = name.split(".")[0]
    if top == "mautrix":
        return True
    if top == "bridge":
        return not (name == "bridge.msnp" or name.startswith("bridge.msnp."))
    return False


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_forbidden_imports(path: Path) -> None:
    bad = [f"{path.name}:{line}: {name}" for line, name in _imported(path) if _forbidden(name)]
    assert not bad, "bridge/msnp must not import mautrix or bridge.*: " + ", ".join(bad)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_stdlib_and_allowed_third_party(path: Path) -> None:
    bad = []
    for line, name in _imported(path):
        top = name.split(".")[0]
        if top == "bridge" or top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names:
            continue
        bad.append(f"{path.name}:{line}: {name}")
    assert not bad, "unexpected third-party imports: " + ", ".join(bad)


def test_checker_catches_violations(tmp_path: Path) -> None:
    """The AST check itself: a module with bad imports is flagged, relative imports resolved."""
    pkg = tmp_path / "bridge" / "msnp"
    pkg.mkdir(parents=True)
    sample = pkg / "bad.py"
    sample.write_text(
        "import mautrix.types\nfrom ..db import user\nfrom .. import config\n"
        "from bridge import portal\nfrom .codec import Parser\nimport json\n"
        "from bridge import msnp\nfrom . import events\n"
    )
    names = [name for _, name in _imported(sample, tmp_path)]
    assert [n for n in names if _forbidden(n)] == [
        "mautrix.types",
        "bridge.db",
        "bridge.config",
        "bridge.portal",
    ]
    assert {"bridge.msnp.codec", "json", "bridge.msnp"} <= set(names)


def test_imports_standalone_with_mautrix_blocked() -> None:
    modules = [_module_name(p) for p in _modules() if p.name != "__main__.py"]
    code = (
        "import sys\n"
        "sys.modules['mautrix'] = None\n"
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m, mod in sys.modules.items() if mod is not None and (\n"
        "    m == 'mautrix' or m.startswith('mautrix.')\n"
        "    or (m.startswith('bridge.') and not m.startswith('bridge.msnp'))))\n"
        "assert not leaked, leaked\n"
        "print('ok', len(" + repr(modules) + "))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


#: "No file over about 400 lines": a little slack for a docstring or a limit more.
MAX_LINES = 410


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Which bridge.msnp modules each one imports (every import, TYPE_CHECKING included;
    ``from . import codec`` counts as importing ``bridge.msnp.codec``)."""
    paths = sorted((root / "bridge" / "msnp").rglob("*.py"))
    names = {_module_name(path, root) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name(path, root)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                module = f"bridge.msnp.{node.module}" if node.module else "bridge.msnp"
                targets.add(module)
                targets.update(f"{module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in names and t not in (name, "bridge.msnp")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph.get(name, ())):
            found = visit(target, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name, [])
        if found:
            return found
    return None


def test_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "bridge" / "msnp"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
    )
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("from .a import A\n")
    assert _cycle(_graph(tmp_path)) == [
        "bridge.msnp.a",
        "bridge.msnp.b",
        "bridge.msnp.c",
        "bridge.msnp.a",
    ]


def test_no_import_cycle() -> None:
    assert _cycle(_graph()) is None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_is_small_and_says_its_job(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name}: over {MAX_LINES} lines"
    doc = ast.get_docstring(ast.parse(text))
    assert doc, f"{path.name} has no docstring"
    first = doc.split("\n\n")[0]
    assert first.endswith(".") and len(first) <= 200, f"{path.name}: {first!r}"

"""The test server and the test P2P peer share no code with the library they test.

``tests/msn_server`` and ``tests/p2p_peer`` must not import anything from ``bridge`` (the
library's bugs would otherwise be mirrored, not caught). Uses the AST walker of
:mod:`tests.unit.test_msnp_imports`, so relative imports are resolved the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_msnp_imports import ROOT, _imported

INDEPENDENT = ("tests/msn_server", "tests/p2p_peer")


def _files() -> list[Path]:
    files = sorted(p for d in INDEPENDENT for p in (ROOT / d).rglob("*.py"))
    assert any("p2p_peer" in str(p) for p in files) and any("msn_server" in str(p) for p in files)
    return files


def _bridge_imports(path: Path, root: Path = ROOT) -> list[str]:
    return [
        f"{path.name}:{line}: {name}"
        for line, name in _imported(path, root)
        if name == "bridge" or name.startswith("bridge.")
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bridge_imports(path: Path) -> None:
    bad = _bridge_imports(path)
    assert not bad, "test peers must not import bridge: " + ", ".join(bad)


def test_checker_flags_bridge_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "tests" / "p2p_peer"
    pkg.mkdir(parents=True)
    sample = pkg / "bad.py"
    sample.write_text(
        "from bridge.msnp import p2p\nimport bridge.msnp.slp\nfrom bridge import msnp\n"
        "from ..msn_server import rawclient\nimport struct\n"
    )
    assert [b.split(": ", 1)[1] for b in _bridge_imports(sample, tmp_path)] == [
        "bridge.msnp",
        "bridge.msnp.slp",
        "bridge.msnp",
    ]

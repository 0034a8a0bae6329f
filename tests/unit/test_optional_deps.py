"""The bridge starts without its optional extras: python-olm (``e2be``) is imported only when
encryption is turned on."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[2]


def test_the_bridge_imports_without_python_olm() -> None:
    code = (
        "import sys\n"
        "sys.modules['olm'] = None  # as if the e2be extra were not installed\n"
        "import bridge.app, bridge.matrix\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

"""Running a script under ``bench/`` the way its smoke test in the suite does: in its own
process from the repository root, failing the test with the end of its output if it exits
with an error."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

__all__ = ["ROOT", "run_bench"]

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>`` with ``args``; its output, once it exited with 0."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc

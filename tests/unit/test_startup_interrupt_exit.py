"""A start-up interrupted while another thread that never ends is alive (aiosqlite's worker,
started by a database that was still being opened) exits at once, with 130; it used to wait for
that thread forever (seen in CI). A real interpreter in a subprocess: the exit is the thing
tested."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.harness import REPO

PROGRAM = textwrap.dedent("""
    import threading
    from bridge import startup

    def program():
        threading.Thread(target=threading.Event().wait).start()  # not a daemon, never ends
        raise {raised}

    startup.run(program)
    """)


@pytest.mark.parametrize(
    "raised",
    [
        "KeyboardInterrupt()",  # Ctrl-C before the event loop's handlers
        'startup.StartupError("Interrupted before the bridge started.", 130)',  # during start()
    ],
)
def test_an_interrupted_start_exits_with_another_thread_alive(raised: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(raised=raised)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 130, run.stderr
    assert "Interrupted before the bridge started." in run.stderr

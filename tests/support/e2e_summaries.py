"""What the end-to-end stacks' bridges logged as errors, printed after the run.

The stacks (tests/e2e/conftest.py) add their summaries to :data:`SUMMARIES`. With pytest-xdist
they are made in the worker processes, each of which starts the stacks its tests use: each
worker hands its own to the main process, which prints them all, marked with the worker (a
plugin of the root conftest, because the main process collects nothing).
"""

from __future__ import annotations

from typing import Any

import pytest

SUMMARIES: list[str] = []
_OUTPUT_KEY = "matrix_msn_e2e_summaries"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: what the bridge logged as errors (not failures by themselves)."""
    if SUMMARIES:
        terminalreporter.section("bridge errors in the e2e logs")
        for summary in SUMMARIES:
            terminalreporter.write_line(summary)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """(pytest-xdist, main process) A worker ended: keep the summaries of its stacks (each
    worker starts the stacks its tests use)."""
    worker = getattr(getattr(node, "gateway", None), "id", "?")
    for summary in getattr(node, "workeroutput", {}).get(_OUTPUT_KEY, []):
        SUMMARIES.append(f"[{worker}] {summary}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the main process prints them
        workeroutput[_OUTPUT_KEY] = list(SUMMARIES)

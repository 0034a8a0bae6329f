"""Fixtures of the end-to-end tests: one whole stack per bridge database backend.

Every test in this directory is marked ``e2e`` and runs in the session event loop, because the
stack (MSN server in-process, Synapse and the bridge as processes) is shared by the tests of a
backend. Tests must create their own users (``stack.new_pair()``) and never reuse names.
The shared stacks' bridges negotiate the default (MSNP18); a test about MSNP12 semantics (the
``SYN`` list, Passport 1.4 tickets, no offline messages) asks for ``stack12`` instead.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from pytest_asyncio import is_async_test
import pytest
import pytest_asyncio

from tests.support.e2e_summaries import SUMMARIES
from tests.support.harness import Stack
from tests.support.synapse import synapse_python

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if is_async_test(item):
            item.add_marker(session_loop, append=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"e2e_report_{report.when}", report)
    return report


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgres"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    backend: str = request.param
    pg = request.getfixturevalue("pg_server") if backend == "postgres" else None
    stack = Stack(tmp_path_factory.mktemp(f"e2e-{backend}"), backend, pg)
    try:
        async with stack.running():
            yield stack
    finally:
        SUMMARIES.append(stack.error_summary())


def _pin_msnp12(config: dict[str, Any]) -> None:
    config["msn"]["protocol_max"] = 12


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack12(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A stack whose bridge speaks at most MSNP12, for the tests about MSNP12 semantics (the
    shared stacks negotiate the default, MSNP18). Started only when a test asks for it."""
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-msnp12"), "sqlite", configure=_pin_msnp12)
    try:
        async with stack.running():
            yield stack
    finally:
        SUMMARIES.append(stack.error_summary())


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _e2e_close_clients(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Log the test's MSN and Matrix clients out after each test."""
    yield
    for name in ("stack", "stack12"):
        if name in request.fixturenames:
            stack: Stack = request.getfixturevalue(name)
            await stack.close_clients()


@pytest.fixture(autouse=True)
def _e2e_failure_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the bridge's and Synapse's log tails when a test fails."""
    yield
    report = getattr(request.node, "e2e_report_call", None)
    if report is None or not report.failed:
        return
    for name in ("stack", "stack12"):
        if name in request.fixturenames:
            stack: Stack = request.getfixturevalue(name)
            print(f"\n===== e2e failure report ({stack.backend}) =====\n{stack.failure_report()}")

"""The bridge raises its open-files limit at start-up and warns when it is too low."""

from __future__ import annotations

from collections.abc import Iterator
import logging
import resource

import pytest

from bridge.fd_limit import ensure_open_files


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_is_raised_to_the_hard_one(limits: tuple[int, int]) -> None:
    _, hard = limits
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip("needs a finite hard limit of at least 512")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert ensure_open_files(10) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)


def test_a_warning_when_even_the_hard_limit_is_too_low(
    limits: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, hard = limits
    if hard == resource.RLIM_INFINITY:
        pytest.skip("needs a finite hard limit")
    with caplog.at_level(logging.WARNING, logger="mau.init"):
        ensure_open_files(10)
        assert not caplog.records
        ensure_open_files(hard)  # 3 sockets a user: more than the limit
    assert "open-files limit" in caplog.text and str(hard) in caplog.text

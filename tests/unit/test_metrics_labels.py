"""The labels the metrics record: each send failure's kind, each login outcome's class."""

from __future__ import annotations

from mautrix.types import MessageStatusReason
from prometheus_client import REGISTRY
import pytest

from bridge import metrics
from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    DeliveryFailed,
    MSNPError,
    ProtocolError,
    ProtocolRefused,
    TransactionTimeout,
)
from bridge.password_login import Outcome, classify
from bridge.texts import SendFailure, describe_send_error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (MSNPError(217), "offline"),
        (DeliveryFailed("NAK"), "not_delivered"),
        (TransactionTimeout("MSG"), "timeout"),
        (MSNPError(282), "refused"),
        (ConnectionClosed("MSG"), "not_connected"),
        (ConnectionResetError(), "not_connected"),
        (ProtocolError("garbage"), "error"),
        (ValueError("bug"), "error"),
    ],
)
def test_send_errors_have_a_metric_kind(error: BaseException, kind: str) -> None:
    failure = describe_send_error(error, "Bob")
    assert failure.kind == kind
    assert failure.kind in metrics.SEND_FAILURE_REASONS


def test_a_failure_without_a_kind_takes_it_from_its_reason() -> None:
    assert SendFailure("x", MessageStatusReason.UNSUPPORTED).kind == "unsupported"
    assert SendFailure("x", MessageStatusReason.NO_PERMISSION).kind == "no_permission"
    assert SendFailure("x", MessageStatusReason.GENERIC_ERROR).kind == "error"
    assert SendFailure("x", MessageStatusReason.NETWORK_ERROR, kind="offline").kind == "offline"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (AuthError("wrong password"), Outcome.REFUSED),
        (MSNPError(911), Outcome.REFUSED),
        (MSNPError(500), Outcome.REFUSED),
        (ConnectionClosed("USR"), Outcome.UNREACHABLE),
        (ConnectionRefusedError(), Outcome.UNREACHABLE),
        (TimeoutError(), Outcome.UNREACHABLE),
        (TransactionTimeout("USR"), Outcome.UNREACHABLE),
        (ProtocolRefused("VER"), Outcome.ERROR),
        (ProtocolError("garbage"), Outcome.ERROR),
        (RuntimeError("bug"), Outcome.ERROR),
    ],
)
def test_login_failures_are_classified(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome


def test_unknown_failure_reasons_are_counted_as_error() -> None:
    def count(reason: str) -> float | None:
        return REGISTRY.get_sample_value(
            "msn_send_failures_total", {"direction": metrics.MSN_TO_MATRIX, "reason": reason}
        )

    before = count("error")
    assert before is not None
    metrics.send_failed(metrics.MSN_TO_MATRIX, "no such reason")
    assert count("error") == before + 1
    assert count("no such reason") is None

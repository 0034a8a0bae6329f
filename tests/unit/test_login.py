"""The login's values and its choice of authentication method (the network side is tested
against tests/msn_server in tests/integration/test_client_login.py)."""

from __future__ import annotations

import pytest

from bridge.msnp import login
from bridge.msnp.errors import ProtocolRefused
from bridge.msnp.login import Credentials, authenticator_for


def test_credentials_keep_secrets_out_of_their_repr() -> None:
    credentials = Credentials("alice@example.com", "hunter2", "t=secret-ticket&p=")
    assert "alice@example.com" in repr(credentials)
    assert "hunter2" not in repr(credentials) and "secret-ticket" not in repr(credentials)
    assert credentials == Credentials("alice@example.com", "hunter2", "t=secret-ticket&p=")
    with pytest.raises(AttributeError):
        credentials.password = None  # type: ignore[misc]


@pytest.mark.parametrize("version", range(2, 8))
def test_msnp2_to_7_answer_an_md5_challenge(version: int) -> None:
    assert authenticator_for(version) is login._md5


@pytest.mark.parametrize("version", range(8, 13))
def test_msnp8_to_12_send_a_tweener_ticket(version: int) -> None:
    assert authenticator_for(version) is login._tweener


@pytest.mark.parametrize("version", [13, 15, 18])
def test_later_versions_are_not_wired_yet(version: int) -> None:
    with pytest.raises(ProtocolRefused, match=f"MSNP{version}"):
        authenticator_for(version)

"""Encryption of stored credentials."""

from __future__ import annotations

import pytest

from bridge.credentials import (
    CredentialCipher,
    CredentialDecryptError,
    InvalidCredentialKey,
    generate_key,
)


def test_round_trip_and_randomised() -> None:
    cipher = CredentialCipher(generate_key())
    for value in ["hunter2", "", "pässwörd ✓ 😀", "t=" + "x" * 2000]:
        token = cipher.encrypt(value)
        assert value not in token or value == ""
        token.encode("ascii")
        assert cipher.decrypt(token) == value
    assert cipher.encrypt("same") != cipher.encrypt("same")


def test_key_as_bytes_and_with_whitespace() -> None:
    key = generate_key()
    a = CredentialCipher(key.encode())
    b = CredentialCipher(f"  {key}\n")
    assert b.decrypt(a.encrypt("x")) == "x"


def test_wrong_key_is_a_clear_error() -> None:
    token = CredentialCipher(generate_key()).encrypt("secret")
    with pytest.raises(CredentialDecryptError, match="credential_key"):
        CredentialCipher(generate_key()).decrypt(token)


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAA", "☃"])
def test_corrupt_token(token: str) -> None:
    with pytest.raises(CredentialDecryptError):
        CredentialCipher(generate_key()).decrypt(token)


@pytest.mark.parametrize("key", ["", "short", "x" * 44, "é" * 44])
def test_invalid_key(key: str) -> None:
    with pytest.raises(InvalidCredentialKey, match=r"python -m bridge\.credentials"):
        CredentialCipher(key)

"""Encryption at rest for stored MSN passwords, Passport tickets and double-puppeting tokens.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under the
key in ``bridge.credential_key``. When that option is empty on startup, a fresh key is generated
and written back into the config file (see :meth:`bridge.config.Config.do_update`).

A value encrypted under a different key (the key was changed or lost) raises
:class:`CredentialDecryptError`; the database layer turns that into "no stored credentials",
so the user is asked to log in again instead of the bridge crashing.

Run ``python -m bridge.credentials`` to print a new key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

__all__ = [
    "CredentialCipher",
    "CredentialDecryptError",
    "InvalidCredentialKey",
    "generate_key",
]


class InvalidCredentialKey(ValueError):
    """``bridge.credential_key`` is not a valid Fernet key."""


class CredentialDecryptError(ValueError):
    """A stored value cannot be decrypted with the configured key."""


def generate_key() -> str:
    """A new random key in the format ``bridge.credential_key`` expects."""
    return Fernet.generate_key().decode("ascii")


class CredentialCipher:
    """Encrypts and decrypts short text values (passwords, tickets) with one Fernet key."""

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode("ascii", "replace") if isinstance(key, str) else key
        try:
            self._fernet = Fernet(raw.strip())
        except (ValueError, TypeError) as e:
            raise InvalidCredentialKey(
                "bridge.credential_key is not a valid key: it must be 32 url-safe base64-encoded "
                "bytes (44 characters). Generate one with `python -m bridge.credentials`, or leave the "
                "option empty to have the bridge generate and save one."
            ) from e

    def encrypt(self, value: str) -> str:
        """Encrypt ``value``; the result is ASCII text suitable for a TEXT column."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a value made by :meth:`encrypt` (with the same key)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as e:
            raise CredentialDecryptError(
                "a stored credential could not be decrypted with bridge.credential_key "
                "(was the key changed?)"
            ) from e


if __name__ == "__main__":
    print(generate_key())

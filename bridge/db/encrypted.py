"""Table models with encrypted columns: plain text in memory, Fernet text in the database.

A model lists its secret columns in ``_secret_columns``; :func:`bridge.db.init` gives it the
cipher of ``bridge.credential_key``. A stored value that cannot be decrypted (the key was
changed) reads as ``None``; the model's :meth:`_on_undecryptable` hook says what that means. The
undecryptable text stays in the database until the attribute is assigned, so restoring the old
key brings the value back.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from bridge.credentials import CredentialCipher, CredentialDecryptError

from .model import Model

__all__ = ["EncryptedModel"]


class EncryptedModel(Model):
    """Base for models with encrypted columns (see the module documentation)."""

    cipher: ClassVar[CredentialCipher | None] = None
    _secret_columns: ClassVar[frozenset[str]] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._secret_columns:
            kept = self.__dict__.get("_undecryptable_values")
            if kept:
                kept.pop(name, None)
        super().__setattr__(name, value)

    def _encode(self, column: str, value: Any) -> Any:
        if column in self._secret_columns:
            if value is None:
                return self.__dict__.get("_undecryptable_values", {}).get(column)
            return self._cipher().encrypt(value)
        return super()._encode(column, value)

    @classmethod
    def _cipher(cls) -> CredentialCipher:
        if cls.cipher is None:
            raise RuntimeError(f"{cls.__name__}.cipher is not set: call bridge.db.init()")
        return cls.cipher

    @classmethod
    def from_row(cls, row: Any) -> Self:
        data = cls._decode(row)
        undecryptable: dict[str, str] = {}
        for column in cls._secret_columns:
            stored = data[column]
            if stored is None:
                continue
            try:
                data[column] = cls._cipher().decrypt(stored)
            except CredentialDecryptError:
                data[column] = None
                undecryptable[column] = stored
        obj = cls(**data)
        if undecryptable:
            obj.__dict__["_undecryptable_values"] = undecryptable
            obj._on_undecryptable(sorted(undecryptable))
        return obj

    def _on_undecryptable(self, columns: list[str]) -> None:
        """Called when ``columns`` of a loaded row could not be decrypted."""

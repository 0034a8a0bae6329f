"""The homeserver's appservice method of double puppeting, as an administrator sets it up.

A second appservice registration with no URL (the homeserver never calls it), a random
``as_token`` and a non-exclusive namespace covering every user of the server: whoever holds
the token may act as any of them. The bridge gets ``as_token:<token>`` in
``bridge.login_shared_secret_map``.
"""

from __future__ import annotations

from pathlib import Path
import json
import re
import secrets

__all__ = ["write_registration"]


def write_registration(path: Path, server_name: str) -> str:
    """Write the registration to ``path`` (JSON, which is YAML); returns its ``as_token``."""
    token = secrets.token_urlsafe(32)
    registration = {
        "id": "doublepuppet",
        "url": None,
        "as_token": token,
        "hs_token": secrets.token_urlsafe(32),
        "sender_localpart": secrets.token_hex(8),
        "rate_limited": False,
        "namespaces": {"users": [{"regex": f"@.*:{re.escape(server_name)}", "exclusive": False}]},
    }
    path.write_text(json.dumps(registration, indent=2))
    path.chmod(0o600)
    return token

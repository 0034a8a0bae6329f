"""A standalone MSN Messenger (MSNP2-MSNP12) client library.

The codec (:mod:`.codec`) is sans-IO; :mod:`.connection` is the only module that owns
sockets. This package never imports ``mautrix`` or anything else from ``bridge``.
"""

from __future__ import annotations

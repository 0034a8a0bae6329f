"""Schema migrations, applied in order by :class:`mautrix.util.async_db.UpgradeTable`.

Every migration must work on both SQLite and PostgreSQL. Never edit a released migration; add a
new ``vNN_*.py`` module and import it below.
"""

from __future__ import annotations

import logging

from mautrix.util.async_db import UpgradeTable

upgrade_table = UpgradeTable(
    version_table_name="version",
    database_name="matrix-msn database",
    log=logging.getLogger("mau.db.upgrade"),
)

# registered in the order imported (one statement, so sorting imports cannot reorder them)
from . import (  # noqa: E402
    v01_initial,
    v02_double_puppet,
    v03_chosen_presence,
    v04_encrypted_tokens,
    v05_group_participants,
    v06_message_queues,
    v07_contact_lists,
    v08_avatar_sha1d,
    v09_msnp13_endpoint,
    v10_space_state,
    v11_own_picture,
    v12_live_status,
)

__all__ = [
    "upgrade_table",
    "v01_initial",
    "v02_double_puppet",
    "v03_chosen_presence",
    "v04_encrypted_tokens",
    "v05_group_participants",
    "v06_message_queues",
    "v07_contact_lists",
    "v08_avatar_sha1d",
    "v09_msnp13_endpoint",
    "v10_space_state",
    "v11_own_picture",
    "v12_live_status",
]

"""The open-files limit at start-up: raised to what the system allows, so that thousands of MSN
connections fit in one process.

Every logged-in MSN account holds one socket to the notification server, and one more per open
conversation (switchboard); the database pool, the appservice and its HTTP connections need a
few dozen on top. Many systems start processes with a soft limit of 1,024 open files but allow
more (the hard limit): the bridge raises its soft limit to the hard one, and warns when even
that is too low for the users it is about to connect.
"""

from __future__ import annotations

from typing import Final
import logging
import resource

__all__ = ["FILES_PER_USER", "RESERVED_FILES", "ensure_open_files"]

log = logging.getLogger("mau.init")

#: Sockets counted per user: the notification server and a couple of conversations.
FILES_PER_USER: Final = 3
#: For the database pool, the appservice, its HTTP pool, logs and the web front end.
RESERVED_FILES: Final = 256


def ensure_open_files(users: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; warn if it is below what ``users``
    logged-in users need. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("Could not raise the open-files limit from %d to %d: %s", soft, target, e)
    needed = RESERVED_FILES + FILES_PER_USER * users
    if soft < needed:
        log.warning(
            "The open-files limit (%d) is low for %d MSN users (about %d needed): raise the "
            "hard limit (ulimit -Hn, systemd LimitNOFILE=) or split the users (README, Scaling)",
            soft,
            users,
            needed,
        )
    return soft

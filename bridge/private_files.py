"""Files that hold secrets are readable and writable by the bridge's own user only (0600).

They are: the configuration (``bridge.credential_key``, the appservice tokens), the generated
registration (``as_token``, ``hs_token``) and the SQLite database (encrypted passwords and
tickets, and everything else the bridge stores). A new one is created with mode 0600; an
existing one that every user may read loses that access, with a warning (or, when that is not
possible, only the warning). Group access is the admin's choice and stays: a homeserver running
as another user may read the registration through its group.
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import logging
import os
import stat

from mautrix.util.config import yaml

__all__ = [
    "PRIVATE_MODE",
    "create_private",
    "make_private",
    "prepare_private",
    "sqlite_files",
    "write_yaml",
]

PRIVATE_MODE = 0o600
#: Where the warnings about files others can read go (callers may pass their own logger).
log = logging.getLogger("mau.files")


def create_private(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; returns whether it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def make_private(path: str | os.PathLike[str], what: str, log: logging.Logger) -> None:
    """If every user may read or write ``path``, take that away and say so (its group keeps
    what the admin gave it: e.g. a homeserver running as another user reads the registration
    through its group)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if not mode & stat.S_IRWXO:
        return
    new_mode = mode & ~stat.S_IRWXO | stat.S_IRUSR | stat.S_IWUSR
    try:
        os.chmod(path, new_mode)
    except OSError as e:
        log.warning(
            "%s %s can be read by every user (mode %04o) and its mode could not be changed "
            "(%s): run chmod o-rwx on it",
            what,
            path,
            mode,
            e,
        )
        return
    log.warning(
        "%s %s could be read by every user (mode %04o); it is now %04o",
        what,
        path,
        mode,
        new_mode,
    )


def prepare_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (or narrow an existing one) readable by its owner only, before secrets
    are written into it (an unwritable path fails here, before anything else is written)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an existing file keeps its mode through O_CREAT
    finally:
        os.close(fd)


def write_yaml(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as YAML to ``path``, which ends up with mode 0600 (new or not)."""
    prepare_private(path)
    with open(path, "w") as stream:
        yaml.dump(data, stream)


def sqlite_files(database: str | os.PathLike[str]) -> list[Path]:
    """The SQLite database and the journal files SQLite keeps beside it."""
    path = Path(database)
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]

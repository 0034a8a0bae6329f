"""What the user chose to show their MSN contacts (status, Appear Offline included, personal
message and friendly name): kept on the user's row and applied to every connection.

The chosen status is the status of the first ``CHG`` after each login, so a user who chose
Appear Offline is never shown online, not even for a moment, after a reconnect or a restart.
The chosen name and personal message are sent again after a login when the server's differ.
A choice made while disconnected is kept and applied at the next connection; a choice MSN
refuses is not kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging

from bridge.db.user import User as DBUser
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ConnectionClosed, MSNPError, MSNPException
from bridge.msnp.events import Status

__all__ = ["PSM_PROTOCOL", "choose", "chosen_status", "forget_account_texts", "reapply"]

#: Personal messages exist from MSNP11 on.
PSM_PROTOCOL = 11


def chosen_status(row: DBUser) -> Status:
    """The status to go online with: the chosen one, else Online."""
    try:
        status = Status(row.chosen_status or Status.ONLINE.value)
    except ValueError:
        return Status.ONLINE
    return Status.ONLINE if status is Status.OFFLINE else status


async def reapply(client: MSNClient, row: DBUser, log: logging.Logger) -> None:
    """After a login (whose first ``CHG`` was already :func:`chosen_status`): send the chosen
    name and personal message where the server's differ. Failures are logged, not raised."""
    name = row.chosen_friendly_name
    if name and client.friendly_name != name:
        try:
            await client.set_friendly_name(name)
        except MSNPException as e:
            log.warning("Could not set the chosen MSN name again: %s", e)
    text = row.chosen_personal_message
    psm_supported = (client.protocol or 0) >= PSM_PROTOCOL
    if text is not None and client.personal_message != text and psm_supported:
        try:
            await client.set_personal_message(text)
        except MSNPException as e:
            log.warning("Could not set the chosen personal message again: %s", e)


async def choose(
    row: DBUser,
    save: Callable[[], Awaitable[None]],
    client: MSNClient | None,
    *,
    status: Status | None = None,
    personal_message: str | None = None,
    friendly_name: str | None = None,
) -> bool:
    """Store a choice and apply it on ``client`` (the live session, or None). Returns whether
    it was applied now (else it is applied at the next connection).

    The choice is stored before it is sent, so a connection lost meanwhile still comes back
    with it. Raises :class:`MSNPError` when MSN refuses it (it is then not kept), and any
    other :class:`MSNPException` (e.g. no answer in time: it is kept).
    """
    before = (row.chosen_status, row.chosen_personal_message, row.chosen_friendly_name)
    if status is not None:
        if status is Status.OFFLINE:
            raise ValueError("Offline is not a status one can choose (Appear Offline is HDN)")
        row.chosen_status = status.value
    if personal_message is not None:
        row.chosen_personal_message = personal_message
    if friendly_name is not None:
        row.chosen_friendly_name = friendly_name
    await save()
    if client is None:
        return False
    try:
        if status is not None:
            await client.set_status(status)
        if friendly_name is not None:
            await client.set_friendly_name(friendly_name)
        if personal_message is not None:
            await client.set_personal_message(personal_message)
    except MSNPError:
        row.chosen_status, row.chosen_personal_message, row.chosen_friendly_name = before
        await save()
        raise
    except ConnectionClosed:
        return False  # the connection went away: the choice is applied when it is back
    return True


def forget_account_texts(row: DBUser) -> None:
    """At logout: the chosen name and personal message belonged to that MSN account and are
    forgotten; the chosen status stays (a user who chose Appear Offline stays hidden)."""
    row.chosen_personal_message = row.chosen_friendly_name = None

"""Double puppeting: the user's own MSN account shown as their real Matrix account.

The ghost of the user's own MSN address (:class:`bridge.puppet.Puppet`) gets the user's Matrix
ID as its ``custom_mxid`` and a way to act as that account (mautrix's ``CustomPuppetMixin``):

* an access token the user gives with mautrix's ``login-matrix`` (``logout-matrix`` forgets it,
  ``ping-matrix`` checks it); it is stored encrypted with ``bridge.credential_key``;
* or, without the user doing anything, the homeserver's appservice method or shared-secret
  login for the user's server in ``bridge.login_shared_secret_map`` (``as_token:<token>`` of a
  second appservice registration whose namespace covers the server's users, or the secret of
  a shared-secret login module): :func:`enable` runs at every MSN login.

What the bridge then does as the user is what comes from MSN as the user (see
:mod:`bridge.portal.as_user`). Tokens and secrets never reach a log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
import logging

from mautrix.appservice import IntentAPI
from yarl import URL

from bridge.db.puppet import Puppet as DBPuppet
from bridge.puppet import Puppet

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = ["configure", "disable", "enable", "intent_of", "start_all"]

log = logging.getLogger("mau.double_puppet")

#: the device name of the logins the bridge makes with a shared secret
DEVICE_NAME = "MSN Messenger bridge"


def configure(config: Config) -> None:
    """Give the puppets the homeserver URLs and secrets of ``bridge.*`` (see the example)."""
    Puppet.homeserver_url_map = {
        server: URL(url)
        for server, url in (config["bridge.double_puppet_server_map"] or {}).items()
    }
    Puppet.allow_discover_url = bool(config["bridge.double_puppet_allow_discovery"])
    Puppet.login_shared_secret_map = {
        server: str(secret).encode("utf-8")
        for server, secret in (config["bridge.login_shared_secret_map"] or {}).items()
        if secret
    }
    Puppet.login_device_name = DEVICE_NAME


async def own_puppet(owner: Any) -> Puppet | None:
    """The ghost of ``owner``'s own MSN address (None before they logged in)."""
    passport = getattr(owner, "passport", None)
    return await Puppet.get_by_passport(passport) if passport else None


async def intent_of(owner: Any) -> IntentAPI | None:
    """How to act as ``owner``'s real Matrix account, or None without double puppeting."""
    puppet = await own_puppet(owner)
    if puppet is None or not puppet.is_real_user or puppet.custom_mxid != owner.mxid:
        return None
    return puppet.intent


async def enable(owner: Any, passport: str | None = None) -> bool:
    """Double puppeting for ``owner`` (logged in to MSN as ``passport``, by default their
    stored address) with the configured method for their server; True if it is on now. A
    token given with ``login-matrix`` is kept."""
    passport = passport or getattr(owner, "passport", None)
    if not passport:
        return False
    automatic = Puppet.can_auto_login(owner.mxid)
    if Puppet.double_puppets_loaded and not automatic:
        # Only a login-matrix token can make one, and every such double puppet is in memory
        # since start-up (start_all; switch_mxid keeps it there): no read at each login.
        puppet = Puppet.by_passport.get(passport.lower())
    else:
        puppet = await Puppet.get_by_passport(passport)
    if puppet is None:
        return False
    if puppet.is_real_user and puppet.custom_mxid == owner.mxid:
        return True
    if not automatic:
        return False
    try:
        await puppet.switch_mxid("auto", owner.mxid)
    except Exception as e:
        # the exception's text never holds the secret; mautrix's errors say what failed
        log.warning("Could not enable double puppeting for %s: %s", owner.mxid, e)
        return False
    log.info("Double puppeting enabled for %s", owner.mxid)
    return True


async def disable(owner: Any) -> None:
    """Forget ``owner``'s double puppeting (their MSN logout): the stored token goes."""
    puppet = await own_puppet(owner)
    if puppet is not None and puppet.custom_mxid == owner.mxid:
        await puppet.switch_mxid(None, None)
        log.info("Double puppeting disabled for %s", owner.mxid)


async def start_all() -> None:
    """At start-up: check every stored double puppet (a token that stopped working is
    forgotten; one made with a shared secret is made again)."""
    rows = await DBPuppet.all_double_puppets()
    puppets = [await Puppet.get_by_passport(row.passport) for row in rows]
    # Every double puppet is now in memory (Puppet.by_custom_mxid, which switch_mxid keeps up
    # to date): a Matrix user who is not there is not one, without asking the database for
    # each event the homeserver sends.
    Puppet.double_puppets_loaded = True
    for puppet in puppets:
        if puppet is not None and puppet.custom_mxid:
            await puppet.try_start(retry_auto_login=True)

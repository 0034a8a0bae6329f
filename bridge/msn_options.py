"""The ``msn.*`` options: their checks, and the MSN library's :class:`ClientConfig` made from them.

:class:`bridge.config.Config` calls these with itself (anything indexable by key path).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable
import logging
import re

from bridge.config_doc import OptionError
from bridge.msnp.config import ClientConfig
from bridge.msnp.p2p_transfer import P2PLimits

__all__ = ["FIRST_TWEENER_VERSION", "client_config", "msn_problems", "warn_insecure_login"]

_SERVER_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):(\d{1,5})$")
#: MSNP versions below this log in with MD5 (see msn.allow_md5_login).
FIRST_TWEENER_VERSION = 8

log = logging.getLogger("mau.config")


def msn_problems(config: Any) -> list[OptionError]:
    """The server address, protocol range, login and switchboard options, one error each."""
    found: list[OptionError] = []
    server = str(config["msn.server"] or "")
    match = _SERVER_RE.match(server)
    if not match or not 0 < int(match.group(2)) < 65536:
        found.append(
            OptionError("msn.server", f"{server!r} is not host:port (e.g. 127.0.0.1:1863).")
        )
    low, high = config["msn.protocol_min"], config["msn.protocol_max"]
    if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high <= 18):
        found.append(
            OptionError(
                "msn.protocol_min/protocol_max",
                f"Need 2 <= protocol_min <= protocol_max <= 18, got {low!r} and {high!r}.",
            )
        )
    elif (
        high >= 8
        and not config["msn.passport_url"]
        and not config["msn.nexus_url"]
        and not (low >= 13 and config["msn.sso_url"])
    ):
        found.append(
            OptionError(
                "msn.passport_url",
                f"MSNP8 and newer (msn.protocol_max is {high}) log in through Passport: set "
                "msn.passport_url (local Escargot: http://127.0.0.1:8081/login) or "
                "msn.nexus_url",
                invalid=False,
            )
        )
    elif high < FIRST_TWEENER_VERSION and not config["msn.allow_md5_login"]:
        found.append(
            OptionError(
                "msn.protocol_max",
                f"MSNP{high} logs in with MD5: set msn.allow_md5_login to true to use it.",
            )
        )
    for key in ("msn.max_switchboards", "msn.max_switchboards_per_inviter"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            found.append(OptionError(key, "It must be a positive integer."))
    if not isinstance(config["msn.switchboard_hosts"] or [], list):
        found.append(OptionError("msn.switchboard_hosts", "It must be a list of hosts."))
    return found


def client_config(config: Any, warn: Callable[[bool], None]) -> ClientConfig:
    """The :class:`ClientConfig` for the ``msn.*`` options; ``warn`` is told first whether it
    offers MD5 logins (MSNP2-7)."""
    version = config["msn.client_version"] or {}
    low, high = int(config["msn.protocol_min"]), int(config["msn.protocol_max"])
    allow_md5 = bool(config["msn.allow_md5_login"])
    if not allow_md5:
        low = max(low, FIRST_TWEENER_VERSION)
    warn(allow_md5 and low < FIRST_TWEENER_VERSION)
    return ClientConfig(
        server=str(config["msn.server"]),
        protocols=tuple(range(high, low - 1, -1)),
        allow_md5_login=allow_md5,
        max_switchboards=int(config["msn.max_switchboards"]),
        max_switchboards_per_inviter=int(config["msn.max_switchboards_per_inviter"]),
        switchboard_hosts=tuple(str(h) for h in config["msn.switchboard_hosts"] or ()),
        passport_url=config["msn.passport_url"] or None,
        nexus_url=config["msn.nexus_url"] or None,
        sso_url=config["msn.sso_url"] or None,
        ab_url=config["msn.ab_url"] or None,
        force_scheme=config["msn.force_scheme"] or None,
        verify_tls=bool(config["msn.verify_tls"]),
        locale=str(version.get("locale", "0x0409")),
        os_type=str(version.get("os_type", "winnt")),
        os_version=str(version.get("os_version", "5.1")),
        arch=str(version.get("arch", "i386")),
        client_name=str(version.get("name", "MSNMSGR")),
        client_version=str(version.get("version", "7.0.0816")),
        client_lib=str(version.get("lib", "MSMSGS")),
        keepalive_interval=float(config["msn.keepalive_interval"]),
        keepalive_timeout=float(config["msn.keepalive_timeout"]),
        connect_timeout=float(config["msn.connect_timeout"]),
        transaction_timeout=float(config["msn.transaction_timeout"]),
        switchboard_join_timeout=float(config["msn.switchboard_join_timeout"]),
        ack_timeout=float(config["msn.ack_timeout"]),
        p2p=P2PLimits(
            file_invite_timeout=float(config["bridge.p2p.offer_timeout"]),
            msnftp_private_addresses=bool(config["bridge.p2p.msnftp_private_addresses"]),
        ),
    )


def warn_insecure_login(config: Any, md5: bool) -> None:
    """Log what exposes passwords: plain-http Passport URLs and MD5 logins."""
    forced_http = config["msn.force_scheme"] == "http"
    plain = [
        key
        for key in ("msn.passport_url", "msn.nexus_url", "msn.sso_url")
        if config[key] and (forced_http or str(config[key]).lower().startswith("http:"))
    ]
    if plain:
        log.warning(
            "%s use plain http: MSN passwords cross the network unencrypted",
            " and ".join(plain),
        )
    if md5:
        log.warning(
            "msn.allow_md5_login is on: MSNP2-7 logins send md5(salt + password), which "
            "anyone who sees the connection can try password guesses against"
        )
    elif int(config["msn.protocol_min"]) < FIRST_TWEENER_VERSION:
        log.info(
            "msn.protocol_min is %s, but MSNP2-7 are offered only with msn.allow_md5_login",
            config["msn.protocol_min"],
        )

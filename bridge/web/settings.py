"""The web options of config.yaml, read and checked in one place.

``appservice.public.*`` (where the public pages are served and reached, as in mautrix bridges),
``bridge.provisioning.*`` (the provisioning API) and ``bridge.login_page.*`` (the one-time login
links the bot sends).
"""

from __future__ import annotations

from typing import Any
from dataclasses import dataclass
import re
import secrets

from yarl import URL

from bridge.config_doc import OptionError

__all__ = ["GENERATE", "WebSettings", "new_shared_secret"]

#: The value of ``bridge.provisioning.shared_secret`` that asks for a generated secret.
GENERATE = "generate"
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
#: Shortest accepted shared secret (a generated one has 64 characters).
MIN_SECRET = 16


def new_shared_secret() -> str:
    return secrets.token_urlsafe(48)


def _prefix(key: str, value: Any) -> str:
    text = str(value or "").rstrip("/")
    if not _PREFIX.match(text):
        raise OptionError(key, f"{value!r} is not a path like /public")
    return text


@dataclass(frozen=True, slots=True)
class WebSettings:
    public_enabled: bool
    public_prefix: str
    #: The URL browsers reach ``public_prefix`` at (no trailing slash), or None.
    public_external: str | None
    provisioning_enabled: bool
    provisioning_prefix: str
    shared_secret: str
    login_page: bool
    link_lifetime: float

    @classmethod
    def from_config(cls, config: Any) -> WebSettings:
        """Read and check the options; raises :class:`OptionError` naming the key."""
        public = config["appservice.public"] or {}
        public_enabled = bool(public.get("enabled"))
        public_prefix = _prefix("appservice.public.prefix", public.get("prefix") or "/public")
        external = public.get("external") or None
        if external is not None:
            url = URL(str(external))
            if url.scheme not in ("http", "https") or not url.host:
                raise OptionError(
                    "appservice.public.external", f"{external!r} is not an http(s) URL"
                )
            external = str(external).rstrip("/")

        prov = config["bridge.provisioning"] or {}
        prov_enabled = bool(prov.get("enabled"))
        prov_prefix = _prefix(
            "bridge.provisioning.prefix", prov.get("prefix") or "/_matrix/provision"
        )
        secret = str(prov.get("shared_secret") or "")
        if prov_enabled and (secret == GENERATE or len(secret) < MIN_SECRET):
            raise OptionError(
                "bridge.provisioning.shared_secret",
                f'Use "{GENERATE}" (the bridge then saves a random one) or at least '
                f"{MIN_SECRET} characters.",
            )

        page = config["bridge.login_page"] or {}
        page_setting = page.get("enabled")
        has_public_url = public_enabled and external is not None
        if page_setting is None:
            login_page = has_public_url
        else:
            login_page = bool(page_setting)
            if login_page and not has_public_url:
                raise OptionError(
                    "bridge.login_page.enabled",
                    "The login page needs appservice.public.enabled: true and "
                    "appservice.public.external (the URL people's browsers open).",
                )
        lifetime = page.get("link_lifetime", 600)
        if not isinstance(lifetime, int | float) or not 30 <= lifetime <= 86400:
            raise OptionError(
                "bridge.login_page.link_lifetime", "Use a number of seconds from 30 to 86400."
            )
        if public_prefix == prov_prefix:
            raise OptionError(
                "appservice.public.prefix", "It must differ from bridge.provisioning.prefix."
            )
        return cls(
            public_enabled=public_enabled,
            public_prefix=public_prefix,
            public_external=external,
            provisioning_enabled=prov_enabled,
            provisioning_prefix=prov_prefix,
            shared_secret=secret,
            login_page=login_page,
            link_lifetime=float(lifetime),
        )

    def login_url(self, token: str) -> str:
        """The address of the login page for ``token``, as people's browsers reach it."""
        assert self.public_external is not None
        return f"{self.public_external}/login/{token}"

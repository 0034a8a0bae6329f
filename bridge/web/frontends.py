"""The front ends of :mod:`bridge.web` built from the config and mounted on the appservice's
web server; the bot asks them for login links."""

from __future__ import annotations

from typing import TYPE_CHECKING
import logging

from .backend import Backend
from .bridge_backend import BridgeBackend
from .login_links import LoginLinks
from .login_page import LoginPage
from .provisioning import ProvisioningAPI
from .settings import WebSettings

if TYPE_CHECKING:
    from aiohttp import web

    from bridge.app import MSNBridge

__all__ = ["WebFrontends", "WebSettings"]

log = logging.getLogger("mau.web")


class WebFrontends:
    """The mounted front ends; :meth:`login_link` is what the bot's ``login`` asks for."""

    def __init__(self, settings: WebSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.provisioning: ProvisioningAPI | None = None
        self.login_page: LoginPage | None = None
        self.links: LoginLinks | None = None
        if settings.provisioning_enabled:
            self.provisioning = ProvisioningAPI(backend, settings.shared_secret)
        if settings.login_page:
            self.links = LoginLinks(settings.link_lifetime)
            self.login_page = LoginPage(backend, self.links)

    @classmethod
    def for_bridge(cls, bridge: MSNBridge) -> WebFrontends:
        """Build the front ends for ``bridge`` and mount them on its appservice app."""
        web_frontends = cls(WebSettings.from_config(bridge.config), BridgeBackend(bridge))
        web_frontends.mount(bridge.az.app)
        return web_frontends

    def mount(self, app: web.Application) -> None:
        settings = self.settings
        if self.provisioning is not None:
            app.add_subapp(settings.provisioning_prefix, self.provisioning.app)
            log.info("Provisioning API at %s/v1", settings.provisioning_prefix)
        if self.login_page is not None:
            app.add_subapp(settings.public_prefix, self.login_page.app)
            log.info(
                "Web login page at %s/login/... (public URL %s)",
                settings.public_prefix,
                settings.public_external,
            )

    def login_link(self, mxid: str, passport: str | None = None) -> str | None:
        """A fresh one-time login link for ``mxid`` (None when the login page is off)."""
        if self.links is None:
            return None
        return self.settings.login_url(self.links.issue(mxid, passport))

    @property
    def link_lifetime(self) -> float:
        return self.settings.link_lifetime

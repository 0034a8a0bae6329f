"""Where the MSNP13+ web services are: configured, found beside Passport, or Windows Live's."""

from __future__ import annotations

from bridge.msnp.config import ClientConfig
from bridge.msnp.passport import service_urls


def test_configured_urls_win() -> None:
    config = ClientConfig(
        passport_url="http://a.example/login",
        sso_url="https://b.example/RST2.srf",
        ab_url="https://c.example/",
    )
    assert service_urls(config) == ("https://b.example/RST2.srf", "https://c.example")


def test_found_beside_the_passport_login_or_the_nexus() -> None:
    beside = ClientConfig(passport_url="http://127.0.0.1:8081/login")
    assert service_urls(beside) == ("http://127.0.0.1:8081/RST.srf", "http://127.0.0.1:8081")
    nexus = ClientConfig(nexus_url="https://nexus.example:444/rdr/pprdr.asp")
    assert service_urls(nexus) == (
        "https://nexus.example:444/RST.srf",
        "https://nexus.example:444",
    )
    token_only = ClientConfig(sso_url="http://10.0.0.1:8081/RST.srf")
    assert service_urls(token_only)[1] == "http://10.0.0.1:8081"


def test_windows_live_otherwise() -> None:
    assert service_urls(ClientConfig()) == (
        "https://login.live.com/RST.srf",
        "https://contacts.msn.com",
    )

"""The web options of config.yaml: defaults, the generated shared secret, refused combinations."""

from __future__ import annotations

from typing import Any
from pathlib import Path

from mautrix.util.config import ConfigValueError, yaml
import pytest

from bridge.config import Config, base_config_path
from bridge.web.settings import GENERATE, WebSettings

REPO = Path(__file__).resolve().parents[2]


def config_with(tmp_path: Path, **changes: Any) -> Config:
    """The example config with usable placeholders and ``changes`` (dotted keys), updated and
    saved the way the bridge does on start-up."""
    with open(REPO / "example-config.yaml") as stream:
        data = yaml.load(stream)
    changes = {
        "homeserver.address": "http://127.0.0.1:8008",
        "homeserver.domain": "hs.test",
        "appservice.as_token": "as-token",
        "appservice.hs_token": "hs-token",
        "msn.passport_url": "http://127.0.0.1:8081/login",
        **changes,
    }
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    path = tmp_path / "config.yaml"
    with open(path, "w") as stream:
        yaml.dump(data, stream)
    config = Config(str(path), str(tmp_path / "registration.yaml"), base_config_path())
    config.load()
    config.update(save=True)
    return config


def test_defaults_provisioning_on_with_a_generated_secret_that_is_saved(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    settings = WebSettings.from_config(config)
    assert settings.provisioning_enabled
    assert settings.provisioning_prefix == "/_matrix/provision"
    assert settings.shared_secret != GENERATE and len(settings.shared_secret) >= 32
    with open(tmp_path / "config.yaml") as stream:
        saved = yaml.load(stream)
    assert saved["bridge"]["provisioning"]["shared_secret"] == settings.shared_secret
    # ... and kept on the next start
    again = config_with(tmp_path, **{"bridge.provisioning.shared_secret": settings.shared_secret})
    assert WebSettings.from_config(again).shared_secret == settings.shared_secret
    # No public URL: no login page.
    assert not settings.public_enabled and not settings.login_page
    assert config.invalid_values() == []


def test_login_page_is_on_by_default_when_the_public_url_is_set(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        **{
            "appservice.public.enabled": True,
            "appservice.public.external": "https://matrix.example.org/msn/",
        },
    )
    settings = WebSettings.from_config(config)
    assert settings.login_page
    assert settings.public_prefix == "/public"
    token = "T" * 43
    assert settings.login_url(token) == f"https://matrix.example.org/msn/login/{token}"
    assert settings.link_lifetime == 600


def test_login_page_can_be_turned_off(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        **{
            "appservice.public.enabled": True,
            "appservice.public.external": "https://matrix.example.org/msn",
            "bridge.login_page.enabled": False,
        },
    )
    assert not WebSettings.from_config(config).login_page


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"bridge.login_page.enabled": True}, "bridge.login_page.enabled"),
        (
            {"appservice.public.enabled": True, "bridge.login_page.enabled": True},
            "bridge.login_page.enabled",
        ),
        (
            {"appservice.public.enabled": True, "appservice.public.external": "ftp://x/y"},
            "appservice.public.external",
        ),
        ({"appservice.public.prefix": "public"}, "appservice.public.prefix"),
        ({"appservice.public.prefix": "/a b"}, "appservice.public.prefix"),
        ({"bridge.provisioning.prefix": "/public"}, "appservice.public.prefix"),
        ({"bridge.provisioning.shared_secret": "short"}, "bridge.provisioning.shared_secret"),
        ({"bridge.login_page.link_lifetime": 5}, "bridge.login_page.link_lifetime"),
        ({"bridge.login_page.link_lifetime": "long"}, "bridge.login_page.link_lifetime"),
    ],
)
def test_bad_combinations_are_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, Any], key: str
) -> None:
    config = config_with(tmp_path, **changes)
    problems = config.invalid_values()
    assert [p.key for p in problems] == [key]
    assert isinstance(problems[0], ConfigValueError) and key in str(problems[0])


def test_a_short_secret_is_fine_when_provisioning_is_off(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        **{"bridge.provisioning.enabled": False, "bridge.provisioning.shared_secret": "x"},
    )
    assert not WebSettings.from_config(config).provisioning_enabled

"""config.yaml handling: updating, validation, permissions, the MSN client config."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import logging

from mautrix.util.config import ConfigValueError, yaml
from ruamel.yaml.comments import CommentedMap
import pytest

from bridge.config import PLACEHOLDER_TOKEN, Config, Permissions, base_config_path
from bridge.credentials import CredentialCipher, generate_key

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-config.yaml"


def load_yaml(path: Path) -> Any:
    with open(path) as stream:
        return yaml.load(stream)


def dump_yaml(data: Any, path: Path) -> None:
    with open(path, "w") as stream:
        yaml.dump(data, stream)


def make_config(tmp_path: Path, data: Any) -> Config:
    path = tmp_path / "config.yaml"
    dump_yaml(data, path)
    path.chmod(0o600)  # as the bridge keeps it (else saving it warns about its mode)
    config = Config(str(path), str(tmp_path / "registration.yaml"), base_config_path())
    config.load()
    config.update(save=True)
    return config


def usable(tmp_path: Path, **changes: Any) -> Config:
    """The example config with the placeholders replaced (plus ``changes``, dotted keys)."""
    data = load_yaml(EXAMPLE)
    data["homeserver"]["address"] = "http://127.0.0.1:8008"
    data["homeserver"]["domain"] = "hs.test"
    data["appservice"]["as_token"] = "as-token"
    data["appservice"]["hs_token"] = "hs-token"
    data["msn"]["passport_url"] = "http://127.0.0.1:8081/login"
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return make_config(tmp_path, data)


WHOLE_MAPS = {
    ("logging",),
    ("bridge", "permissions"),
    ("bridge", "relay", "message_formats"),
    ("appservice", "database_opts"),
}


def leaves(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value and path not in WHOLE_MAPS:
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


def mutate(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return value + "-changed" if value else "changed"
    if value is None:
        return "set-" + ".".join(path)
    if isinstance(value, list):
        return [*value, "extra"]
    if isinstance(value, dict):
        changed = CommentedMap(value)
        changed["extra_key"] = "extra"
        return changed
    raise AssertionError(f"unexpected {type(value)} at {path}")


def test_every_option_in_the_example_is_kept_on_update(tmp_path: Path) -> None:
    """Every option the user set survives an update: do_update copies every key."""
    example = load_yaml(EXAMPLE)
    user = load_yaml(EXAMPLE)
    expected: dict[tuple[str, ...], Any] = {}
    for path, value in leaves(example).items():
        new = mutate(value, path)
        expected[path] = new
        node = user
        *parents, last = path
        for part in parents:
            node = node[part]
        node[last] = new
    config = make_config(tmp_path, user)
    saved = load_yaml(tmp_path / "config.yaml")
    lost = []
    for path, value in expected.items():
        node = saved
        for part in path:
            node = node[part]
        if node != value:
            lost.append(f"{'.'.join(path)}: {value!r} became {node!r}")
    assert not lost, "options not copied by Config.do_update:\n" + "\n".join(lost)
    assert config["msn.ack_timeout"] == example["msn"]["ack_timeout"] + 7


def test_update_adds_new_options_and_keeps_old_values(tmp_path: Path) -> None:
    old = load_yaml(EXAMPLE)
    old["homeserver"]["address"] = "http://hs.internal:8008"
    old["msn"]["server"] = "msn.escargot.test:1863"
    old["bridge"]["permissions"] = {"@me:my.hs": "admin"}
    del old["msn"]["ack_timeout"]
    del old["msn"]["client_version"]
    del old["bridge"]["presence"]
    old["bridge"]["obsolete_option"] = 1
    config = make_config(tmp_path, old)
    assert config["homeserver.address"] == "http://hs.internal:8008"
    assert config["msn.server"] == "msn.escargot.test:1863"
    assert dict(config["bridge.permissions"]) == {"@me:my.hs": "admin"}
    assert config["msn.ack_timeout"] == 30
    assert config["msn.client_version.version"] == "7.0.0816"
    assert config["bridge.presence.resend_interval"] == 20
    assert "bridge.obsolete_option" not in config
    saved = load_yaml(tmp_path / "config.yaml")
    assert saved["msn"]["ack_timeout"] == 30
    assert saved["msn"]["server"] == "msn.escargot.test:1863"
    # comments of the example are kept in the saved file
    text = (tmp_path / "config.yaml").read_text()
    assert "# Seconds to wait for the delivery acknowledgement" in text


def test_credential_key_generated_once_and_saved(tmp_path: Path) -> None:
    config = usable(tmp_path)
    key = config["bridge.credential_key"]
    assert config.generated_credential_key
    CredentialCipher(key)  # valid
    assert load_yaml(tmp_path / "config.yaml")["bridge"]["credential_key"] == key
    again = Config(str(tmp_path / "config.yaml"), "", base_config_path())
    again.load()
    again.update(save=True)
    assert again["bridge.credential_key"] == key
    assert not again.generated_credential_key
    mine = generate_key()
    assert usable(tmp_path, **{"bridge.credential_key": mine})["bridge.credential_key"] == mine


def test_placeholders_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, load_yaml(EXAMPLE))
    with pytest.raises(ConfigValueError, match=r"homeserver\.address"):
        config.check_default_values()
    data = load_yaml(tmp_path / "config.yaml")
    data["homeserver"]["address"] = "http://127.0.0.1:8008"
    config = make_config(tmp_path, data)
    with pytest.raises(ConfigValueError, match=r"homeserver\.domain"):
        config.check_default_values()
    data["homeserver"]["domain"] = "hs.test"
    data["msn"]["passport_url"] = "http://127.0.0.1:8081/login"
    config = make_config(tmp_path, data)
    with pytest.raises(ConfigValueError, match=r"as_token.*generate the registration"):
        config.check_default_values()
    assert config["appservice.as_token"] == PLACEHOLDER_TOKEN
    usable(tmp_path).check_default_values()  # no error


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("bridge.permissions", {"*": "superuser"}, "Unknown level 'superuser'"),
        ("bridge.username_template", "msn_user", "userid"),
        ("msn.server", "127.0.0.1", "host:port"),
        ("msn.server", "127.0.0.1:99999", "host:port"),
        ("msn.protocol_min", 19, "protocol_min"),
        ("msn.protocol_max", 1, "protocol_min"),
        ("msn.force_scheme", "ftp", "force_scheme"),
        ("bridge.credential_key", "not-a-key", "credential_key"),
        ("bridge.reconnect.initial_delay", 0, "positive number"),
        ("bridge.reconnect.max_delay", 1, "not be below"),
        ("bridge.reconnect.stable_after", -5, "positive number"),
        ("bridge.reconnect.max_concurrent_logins", 2.5, "whole number"),
        ("bridge.reconnect.max_concurrent_logins", 0, "positive number"),
        ("bridge.reconnect.max_loop_lag", -0.01, "from 0 \\(off\\) to 10"),
        ("bridge.reconnect.max_loop_lag", "fast", "from 0 \\(off\\) to 10"),
        ("bridge.send_queue.max_per_conversation", "many", "positive number"),
        ("bridge.send_queue.timeout", True, "positive number"),
    ],
)
def test_invalid_options_have_clear_errors(
    tmp_path: Path, key: str, value: Any, match: str
) -> None:
    config = usable(tmp_path, **{key: value})
    with pytest.raises(ConfigValueError, match=match):
        config.check_default_values()


def test_ipv6_server_accepted(tmp_path: Path) -> None:
    usable(tmp_path, **{"msn.server": "[::1]:1863"}).check_default_values()


def test_permissions(tmp_path: Path) -> None:
    config = usable(
        tmp_path,
        **{
            "bridge.permissions": {
                "*": "relay",
                "hs.test": "user",
                "@boss:hs.test": "admin",
                "@banned:hs.test": "none",
            }
        },
    )
    assert config.get_permissions("@boss:hs.test") == Permissions(True, True, True, "admin")
    assert config.get_permissions("@joe:hs.test") == Permissions(True, True, False, "user")
    assert config.get_permissions("@eve:other.test") == Permissions(True, False, False, "relay")
    assert config.get_permissions("@banned:hs.test") == Permissions(False, False, False, "none")
    bare = usable(tmp_path, **{"bridge.permissions": {"hs.test": "user"}})
    assert bare.get_permissions("@eve:other.test").level == "none"
    relay, user, admin, level = bare.get_permissions("@a:hs.test")
    assert (relay, user, admin, level) == (True, True, False, "user")


def test_client_config(tmp_path: Path) -> None:
    from bridge.msnp.client import ClientConfig

    config = usable(
        tmp_path,
        **{
            "msn.server": "127.0.0.1:1863",
            "msn.protocol_min": 8,
            "msn.protocol_max": 11,
            "msn.passport_url": "http://127.0.0.1:8081/login",
            "msn.force_scheme": "http",
            "msn.verify_tls": False,
            "msn.client_version.version": "6.2.0208",
            "msn.ack_timeout": 5,
        },
    )
    cc = config.client_config()
    assert isinstance(cc, ClientConfig)
    assert cc.server == "127.0.0.1:1863"
    assert cc.protocols == (11, 10, 9, 8)
    assert cc.passport_url == "http://127.0.0.1:8081/login"
    assert cc.nexus_url is None
    assert cc.force_scheme == "http"
    assert cc.verify_tls is False
    assert cc.client_version == "6.2.0208"
    assert cc.client_name == "MSNMSGR" and cc.locale == "0x0409"
    assert cc.ack_timeout == 5.0 and cc.keepalive_interval == 45.0


def test_ghost_helpers(tmp_path: Path) -> None:
    config = usable(tmp_path)
    mxid = config.ghost_ids.mxid("Bob@Example.com")
    assert mxid == "@msn_bob=40example.com:hs.test"
    assert config.ghost_ids.passport(mxid) == "bob@example.com"
    assert config.ghost_ids.passport("@msnbot:hs.test") is None


def test_md5_logins_need_the_opt_in(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert usable(tmp_path)["msn.protocol_min"] == 8
    assert usable(tmp_path).client_config().protocols == tuple(range(18, 7, -1))
    old = usable(tmp_path, **{"msn.protocol_min": 2})  # a config from before the option
    cc = old.client_config()
    assert cc.protocols == tuple(range(18, 7, -1)) and not cc.allow_md5_login
    caplog.set_level(logging.INFO, "mau.config")
    allowed = usable(tmp_path, **{"msn.protocol_min": 2, "msn.allow_md5_login": True})
    cc = allowed.client_config()
    assert cc.protocols == tuple(range(18, 1, -1)) and cc.allow_md5_login
    allowed.client_config()
    md5_warnings = [r for r in caplog.records if "allow_md5_login is on" in r.getMessage()]
    assert len(md5_warnings) == 1 and md5_warnings[0].levelno == logging.WARNING
    with pytest.raises(ConfigValueError, match="allow_md5_login"):
        usable(tmp_path, **{"msn.protocol_min": 2, "msn.protocol_max": 7}).check_default_values()


def test_plain_http_passport_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "mau.config")
    usable(tmp_path, **{"msn.passport_url": "https://login.example/login"}).client_config()
    assert not caplog.records
    config = usable(
        tmp_path,
        **{"msn.passport_url": "http://127.0.0.1:8081/login", "msn.nexus_url": "http://n/x"},
    )
    config.client_config()
    config.client_config()
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "msn.passport_url and msn.nexus_url" in line and "unencrypted" in line
    assert "\n" not in line
    caplog.clear()
    usable(
        tmp_path,
        **{"msn.nexus_url": "https://n.example/x", "msn.force_scheme": "http"},
    ).client_config()
    assert "msn.nexus_url use plain http" in caplog.records[0].getMessage()


def test_switchboard_limits_reach_the_client(tmp_path: Path) -> None:
    config = usable(
        tmp_path,
        **{
            "msn.max_switchboards": 7,
            "msn.max_switchboards_per_inviter": 2,
            "msn.switchboard_hosts": ["sb.example.net", "10.0.0.0/8"],
        },
    )
    config.check_default_values()
    cc = config.client_config()
    assert (cc.max_switchboards, cc.max_switchboards_per_inviter) == (7, 2)
    assert cc.switchboard_hosts == ("sb.example.net", "10.0.0.0/8")
    defaults = usable(tmp_path).client_config()
    assert (defaults.max_switchboards, defaults.max_switchboards_per_inviter) == (50, 4)
    with pytest.raises(ConfigValueError, match="max_switchboards"):
        usable(tmp_path, **{"msn.max_switchboards": 0}).check_default_values()


def test_msnp13_to_18_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigValueError, match="protocol_max <= 18"):
        usable(tmp_path, **{"msn.protocol_max": 19}).check_default_values()
    config = usable(
        tmp_path,
        **{
            "msn.protocol_min": 13,
            "msn.protocol_max": 18,
            "msn.passport_url": None,
            "msn.sso_url": "http://127.0.0.1:8081/RST2.srf",
            "msn.ab_url": "http://127.0.0.1:8081",
        },
    )
    config.check_default_values()  # the token service alone is enough from MSNP13
    cc = config.client_config()
    assert cc.protocols == (18, 17, 16, 15, 14, 13)
    assert cc.sso_url == "http://127.0.0.1:8081/RST2.srf" and cc.ab_url == "http://127.0.0.1:8081"
    # below 13 the Tweener login still needs passport_url or nexus_url
    with pytest.raises(ConfigValueError, match="passport_url"):
        usable(
            tmp_path,
            **{"msn.protocol_min": 8, "msn.protocol_max": 18, "msn.passport_url": None},
        ).check_default_values()

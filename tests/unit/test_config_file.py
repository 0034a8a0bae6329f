"""config.yaml stays the user's file: updates edit its text, unknown keys survive with a warning."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import os
import random

from ruamel.yaml import YAML
import pytest

from bridge.config import Config, base_config_path
from bridge.config_doc import ConfigFileError, parse_document
from bridge.config_edit import render_update

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-config.yaml"

# An old config as a user writes it: 2-space indentation, own comments, quoting, nulls, a typo,
# sections and options missing.
OLD = """\
# my bridge (this comment is mine)
homeserver:
  address: "http://127.0.0.1:8008"   # double quotes on purpose
  domain: 'hs.test'
  http_retry_count: null
appservice:
  address: http://localhost:29340
  as_token: "as-token"
  hs_token: "hs-token"
  bot_avatar:
bridge:
  # who may use it
  permissions:
    "@me:hs.test": admin
  credential_key: "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG="
  displayname_template: '{displayname} [MSN]'
msn:
  server: 127.0.0.1:1863
  pasport_url: http://127.0.0.1:8081/login
  protocol_max: 7
  client_version: {locale: "0x0409", os_type: winnt}
"""


def load(tmp_path: Path, text: str, name: str = "config.yaml") -> Config:
    path = tmp_path / name
    path.write_bytes(text.encode())
    config = Config(str(path), str(tmp_path / "registration.yaml"), base_config_path())
    config.load()
    config.update(save=False)
    return config


def settled(text: str) -> str:
    """``text`` with the values the bridge generates on first start already set."""
    return text.replace('credential_key: ""', 'credential_key: "x"').replace(
        "shared_secret: generate", "shared_secret: an-operator-chosen-secret-of-32-characters"
    )


def safe(text: str) -> Any:
    return YAML(typ="safe").load(text)


def test_update_keeps_the_users_text_and_adds_the_missing_options(tmp_path: Path) -> None:
    config = load(tmp_path, OLD)
    new = config.pending_text()
    assert new is not None
    new_lines = new.splitlines()
    # every line of the user's file is still there, unchanged and in order
    position = 0
    for line in OLD.splitlines():
        position = new_lines.index(line, position) + 1
    data = safe(new)
    # missing options arrived with the example's comments, at the user's indentation
    assert "  # Whether or not to verify the homeserver's TLS certificate." in new_lines
    assert "  verify_ssl: true" in new_lines
    assert data["msn"]["ack_timeout"] == 30
    assert data["bridge"]["presence"] == {
        "enabled": True,
        "resend_interval": 20,
        "max_per_second": 20,
    }
    assert data["metrics"]["enabled"] is False  # a whole section the file lacked
    # the user's values, nulls and quoting are kept; the misspelt key is still there
    assert data["homeserver"]["http_retry_count"] is None
    assert data["appservice"]["bot_avatar"] is None
    assert data["msn"]["pasport_url"] == "http://127.0.0.1:8081/login"
    assert data["bridge"]["displayname_template"] == "{displayname} [MSN]"
    # the flow mapping could not take new keys, but the effective config has them
    assert data["msn"]["client_version"] == {"locale": "0x0409", "os_type": "winnt"}
    assert config["msn.client_version.version"] == "7.0.0816"
    # what the bridge runs with
    assert config["homeserver.http_retry_count"] is None
    assert config["msn.protocol_max"] == 7
    assert config["msn.passport_url"] is None


def test_unknown_key_is_reported_with_the_nearest_option(tmp_path: Path) -> None:
    config = load(tmp_path, OLD + "bridgee:\n  x: 1\nfoo_bar_baz: 2\n")
    warnings = config.unknown_options()
    assert (
        "msn.pasport_url is not an option — did you mean msn.passport_url? (kept, ignored)"
        in warnings
    )
    assert any(w.startswith("bridgee is not an option — did you mean bridge?") for w in warnings)
    assert "foo_bar_baz is not an option of this bridge (kept, ignored)" in warnings
    # free-form maps are not checked key by key
    assert not any("@me:hs.test" in w for w in warnings)


def test_nothing_to_change_writes_nothing(tmp_path: Path) -> None:
    text = settled(EXAMPLE.read_text())
    config = load(tmp_path, text)
    assert config.pending_text() is None
    path = tmp_path / "config.yaml"
    before = path.stat()
    config.save()
    after = path.stat()
    assert path.read_text() == text
    assert (before.st_mtime_ns, before.st_ino) == (after.st_mtime_ns, after.st_ino)


def test_a_file_with_nothing_to_change_is_not_compared_with_the_example(tmp_path: Path) -> None:
    """The usual restart: the example's text is not parsed again (40-70 ms on the event loop);
    a file that does need an edit still is."""
    config = load(tmp_path, settled(EXAMPLE.read_text()))
    config._example_text = "bridge: [not, a mapping"  # would raise if it were parsed
    assert config.pending_text() is None
    config["msn.protocol_max"] = 15
    with pytest.raises(ConfigFileError):
        config.pending_text()


def test_generated_values_replace_only_the_value(tmp_path: Path) -> None:
    """Registration tokens and a generated key change their value in place, style kept."""
    text = EXAMPLE.read_text().replace("    port: 29340\n", "    port: 29340  # my port\n")
    config = load(tmp_path, text)
    assert config.generated_credential_key
    config.generate_registration()
    new = config.pending_text()
    assert new is not None
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert [a.split(":")[0].strip() for a, _ in changed] == [
        "as_token",
        "hs_token",
        "credential_key",
        "shared_secret",
    ]
    for _, line in changed[:3]:
        assert line.split(": ", 1)[1].startswith('"')  # the example's double quotes kept
    data = safe(new)
    assert data["appservice"]["as_token"] == config["appservice.as_token"]
    assert data["bridge"]["credential_key"] == config["bridge.credential_key"]
    assert "    port: 29340  # my port" in new.splitlines()


def test_save_keeps_permissions_and_is_atomic(tmp_path: Path) -> None:
    config = load(tmp_path, OLD)
    path = tmp_path / "config.yaml"
    os.chmod(path, 0o640)
    config.save()
    assert path.stat().st_mode & 0o777 == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = load(tmp_path, path.read_text())
    assert again.pending_text() is None  # a second start changes nothing


def test_environment_overrides_are_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_MSN_SERVER", "secret.example:1863")
    path = tmp_path / "config.yaml"
    path.write_text(OLD)
    config = Config(str(path), "", base_config_path(), env_prefix="BRIDGE")
    config.load()
    config.update(save=True)
    assert config["msn.server"] == "secret.example:1863"
    assert "secret.example" not in path.read_text()


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    config = load(tmp_path, OLD.replace("\n", "\r\n"))
    new = config.pending_text()
    assert new is not None
    assert "\n" not in new.replace("\r\n", "")
    assert safe(new)["msn"]["ack_timeout"] == 30


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("homeserver:\n  address: [\n", "line 3"),
        ("homeserver:\n\taddress: x\n", "line 2"),
        ("a: 1\na: 2\n", "line 2"),
        ("", "empty"),
        ("- just\n- a list\n", "option: value"),
    ],
)
def test_unreadable_files_are_one_line_errors(text: str, where: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        parse_document(text, "config.yaml")
    message = str(info.value)
    assert where in message and "\n" not in message


def _example_without(paths: list[tuple[str, ...]]) -> str:
    """The example with some options deleted, as a user's round-trip-edited file."""
    import io

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = yaml.load(EXAMPLE.read_text())
    for path in paths:
        node = data
        for part in path[:-1]:
            node = node.get(part, {})
        node.pop(path[-1], None)
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in data.items():
        out.append((*prefix, key))
        whole = ("logging", "permissions", "message_formats", "database_opts")
        if isinstance(value, dict) and key not in whole:
            out.extend(_paths(value, (*prefix, key)))
    return out


ALL_PATHS = _paths(safe(EXAMPLE.read_text()))


def _cases() -> list[list[tuple[str, ...]]]:
    rng = random.Random(8)  # fixed: the same cases every run
    top = [[path] for path in ALL_PATHS if len(path) == 1]
    nested = [
        [("bridge", "presence")],
        [("bridge", "credential_key")],
        [("msn", "client_version", "version"), ("msn", "ack_timeout")],
        [("appservice", "as_token"), ("appservice", "database")],
    ]
    mixed = [rng.sample(ALL_PATHS, 6) for _ in range(3)]
    return top + nested + mixed


@pytest.mark.parametrize("missing", _cases(), ids=lambda m: "+".join(".".join(p) for p in m))
def test_missing_options_are_restored(tmp_path: Path, missing: list[tuple[str, ...]]) -> None:
    """Whatever the file lacks comes back with the example's value (or the generated one)."""
    text = _example_without(missing)
    config = load(tmp_path, text)
    example_text = EXAMPLE.read_text()
    example = parse_document(example_text, "example")
    new, skipped = render_update(text, config._doc, example_text, example, config._data)
    assert not skipped and new is not None
    expected = safe(example_text)
    expected["bridge"]["credential_key"] = config["bridge.credential_key"]
    secret = config["bridge.provisioning.shared_secret"]
    expected["bridge"]["provisioning"]["shared_secret"] = secret
    assert safe(new) == expected


def test_a_free_form_map_set_by_the_program_is_written_whole(tmp_path: Path) -> None:
    """bridge.permissions set in code (the demo does): its block is rewritten, nothing else."""
    text = settled(EXAMPLE.read_text())
    config = load(tmp_path, text)
    config["bridge.permissions"] = {"*": "none", "localhost": "user", "@demo:localhost": "admin"}
    config.save()
    new = (tmp_path / "config.yaml").read_text()
    assert dict(safe(new)["bridge"]["permissions"]) == {
        "*": "none",
        "localhost": "user",
        "@demo:localhost": "admin",
    }
    old_lines, new_lines = text.splitlines(), new.splitlines()
    start = old_lines.index("    permissions:")
    assert new_lines[: start + 1] == old_lines[: start + 1]  # comments above kept
    assert new_lines[start + 4 :] == old_lines[start + 4 :]

"""Files with secrets are the bridge's own (created 0600): the config (credential key, tokens),
the generated registration (as_token, hs_token) and the SQLite database; an existing one that
every user could read is fixed, with a warning."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import logging
import os
import stat
import subprocess
import sys

from mautrix.util.config import yaml
import pytest

from bridge.app import MSNBridge
from bridge.config import Config, base_config_path

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_config(path: Path, database: str = "sqlite:bridge.db") -> None:
    with open(REPO / "example-config.yaml") as stream:
        data: Any = yaml.load(stream)
    data["homeserver"]["address"] = "http://127.0.0.1:8008"
    data["homeserver"]["domain"] = "hs.test"
    data["appservice"]["database"] = database
    data["msn"]["passport_url"] = "http://127.0.0.1:8081/login"
    with open(path, "w") as stream:
        yaml.dump(data, stream)
    path.chmod(0o644)  # as an editor or `cp` leaves it


def generate(cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "-g", "-c", "config.yaml", "-r", "registration.yaml"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_registration_and_config_are_private(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml")
    generate(tmp_path)
    config = tmp_path / "config.yaml"
    registration = tmp_path / "registration.yaml"
    with open(registration) as stream:
        assert yaml.load(stream)["as_token"]
    with open(config) as stream:
        assert yaml.load(stream)["bridge"]["credential_key"]  # generated into the config
    assert mode(registration) == 0o600
    assert mode(config) == 0o640  # written with the tokens: every user lost access (not the group)
    # generated again over a world-readable one: private again
    registration.chmod(0o644)
    generate(tmp_path)
    assert mode(registration) == 0o600


def _bridge(tmp_path: Path) -> MSNBridge:
    """The bridge program with its config loaded, as far as start-up gets before the database
    (no homeserver needed)."""
    config = Config(
        str(tmp_path / "config.yaml"), str(tmp_path / "registration.yaml"), base_config_path()
    )
    config.load()
    bridge = MSNBridge.__new__(MSNBridge)
    bridge.config = config
    bridge.log = logging.getLogger("mau.test.files")  # type: ignore[assignment]
    return bridge


def test_a_new_sqlite_database_is_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path / "config.yaml", database="sqlite:data/bridge.db")
    (tmp_path / "data").mkdir()
    old = os.umask(0o022)  # the usual one: files are world-readable unless created private
    try:
        _bridge(tmp_path)._protect_files()
    finally:
        os.umask(old)
    assert mode(tmp_path / "data" / "bridge.db") == 0o600


def test_existing_readable_files_are_fixed_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path / "config.yaml")
    (tmp_path / "config.yaml").chmod(0o644)
    for name in ("registration.yaml", "bridge.db", "bridge.db-wal"):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o664)
    (tmp_path / "bridge.db-shm").write_text("")
    (tmp_path / "bridge.db-shm").chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="mau.test.files"):
        _bridge(tmp_path)._protect_files()
    # every user loses access; the group keeps what the admin gave it (a homeserver running as
    # another user reads the registration through its group)
    assert mode(tmp_path / "config.yaml") == 0o640
    for name in ("registration.yaml", "bridge.db", "bridge.db-wal"):
        assert mode(tmp_path / name) == 0o660, name
    assert mode(tmp_path / "bridge.db-shm") == 0o600
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert warned.count("could be read by every user") == 4  # not for the private -shm
    assert "registration.yaml" in warned and "bridge.db-wal" in warned

    # files no longer open to everyone are left as they are, without a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mau.test.files"):
        _bridge(tmp_path)._protect_files()
    assert mode(tmp_path / "registration.yaml") == 0o660 and not caplog.records

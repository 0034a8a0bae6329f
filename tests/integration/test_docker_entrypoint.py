"""docker-entrypoint.sh outside Docker: a data directory of our own instead of /data."""

from __future__ import annotations

from pathlib import Path
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ruamel.yaml import YAML
import pytest

from tests.support.synapse import free_port

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "docker-entrypoint.sh"
EXAMPLE = REPO / "example-config.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.timeout(120)


def entrypoint(data: Path, *args: str, user: int | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "MATRIX_MSN_"))}
    env.update(MATRIX_MSN_DATA=str(data), PYTHON=sys.executable, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        cwd="/",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=90,
        user=user,
        group=user,
        extra_groups=[] if user is not None else None,
    )
    return proc.returncode, ANSI.sub("", proc.stdout)


def test_help_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    code, out = entrypoint(data, "--help")
    assert code == 0, out
    assert "usage: python -m bridge" in out and "exit status:" in out
    assert list(data.iterdir()) == []


def test_first_runs_then_the_bridge(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # 1: the config, listening on all interfaces, and what to edit
    code, out = entrypoint(data)
    assert code == 0, out
    config = data / "config.yaml"
    text = config.read_text()
    assert "    hostname: 0.0.0.0\n" in text
    assert text.replace("hostname: 0.0.0.0", "hostname: 127.0.0.1") == EXAMPLE.read_text()
    assert f"Created {config} (the /data volume on the host)" in out
    assert "start the container again" in out
    assert "make" not in out and "python -m" not in out
    # 2: placeholders left: listed, nothing written
    code, out = entrypoint(data)
    assert code == 0 and "is not configured" in out and "start the container again" in out, out
    assert config.read_text() == text
    # 3: edited: the registration, and where it goes
    text = text.replace("address: https://example.com", f"address: http://127.0.0.1:{free_port()}")
    text = text.replace("domain: example.com", "domain: msn.test")
    text = text.replace("passport_url: null", "passport_url: http://127.0.0.1:8081/login")
    config.write_text(text)
    code, out = entrypoint(data)
    assert code == 0, out
    registration = data / "registration.yaml"
    assert YAML(typ="safe").load(registration.read_text())["url"] == "http://localhost:29340"
    assert f"Generated the appservice registration {registration}" in out
    assert "restart the homeserver and start the container again" in out
    # 4: the bridge itself, with the options given to the container
    code, out = entrypoint(data, "--wait-for-homeserver", "1")
    assert code == 16, out
    assert "Cannot connect to the homeserver" in out and "Traceback" not in out


def test_data_directory_not_writable() -> None:
    # outside pytest's 0700 temporary root, so that another user can reach it
    base = Path(tempfile.mkdtemp(prefix="msn-entrypoint-"))
    data = base / "data"
    data.mkdir()
    os.chmod(base, 0o755)
    try:
        if os.geteuid() == 0:  # root writes anywhere: be the container's user instead
            os.chmod(data, 0o755)
            code, out = entrypoint(data, user=1337)
        else:
            os.chmod(data, 0o555)
            code, out = entrypoint(data)
    finally:
        os.chmod(data, 0o755)
        contents = list(data.iterdir())
        shutil.rmtree(base)
    assert code == 13, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"{data} is not writable by the bridge" in lines[0]
    assert "chown -R" in lines[0]
    assert contents == []


def test_missing_data_directory(tmp_path: Path) -> None:
    code, out = entrypoint(tmp_path / "nowhere")
    assert code == 13, out
    assert "does not exist: mount a directory there" in out

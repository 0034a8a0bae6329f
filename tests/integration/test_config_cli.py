"""The command line: registration generation, refusing placeholder configs, make-run setup."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import os
import re
import subprocess
import sys

from mautrix.util.config import yaml
import pytest

from bridge import ids
from bridge.config import PLACEHOLDER_TOKEN
from bridge.setup_local import (
    EXIT_MISMATCH,
    EXIT_NEW_CONFIG,
    EXIT_NEW_REGISTRATION,
    EXIT_PLACEHOLDERS,
    main as setup_main,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-config.yaml"

pytestmark = pytest.mark.timeout(120)


def load_yaml(path: Path) -> Any:
    with open(path) as stream:
        return yaml.load(stream)


def write_config(path: Path, **changes: Any) -> None:
    data = load_yaml(EXAMPLE)
    data["homeserver"]["address"] = "http://127.0.0.1:8008"
    data["homeserver"]["domain"] = "hs.test"
    data["msn"]["passport_url"] = "http://127.0.0.1:8081/login"
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    with open(path, "w") as stream:
        yaml.dump(data, stream)


def run_bridge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_generate_registration(tmp_path: Path) -> None:
    # even with ephemeral_events off in the config, the registration asks for ephemeral events
    write_config(tmp_path / "config.yaml", **{"appservice.ephemeral_events": False})
    proc = run_bridge(tmp_path, "-g", "-c", "config.yaml", "-r", "registration.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reg = load_yaml(tmp_path / "registration.yaml")
    config = load_yaml(tmp_path / "config.yaml")
    assert reg["receive_ephemeral"] is True
    assert reg["de.sorunome.msc2409.push_ephemeral"] is True
    assert reg["rate_limited"] is False
    assert reg["id"] == "msn"
    assert reg["url"] == config["appservice"]["address"]
    assert reg["as_token"] == config["appservice"]["as_token"] != PLACEHOLDER_TOKEN
    assert reg["hs_token"] == config["appservice"]["hs_token"] != PLACEHOLDER_TOKEN
    assert reg["as_token"] != reg["hs_token"]
    assert config["appservice"]["ephemeral_events"] is True
    # the example registration.yaml in the repository has the same shape
    assert set(load_yaml(REPO / "registration.yaml")) == set(reg)
    assert config["bridge"]["credential_key"]
    regexes = [ns["regex"] for ns in reg["namespaces"]["users"]]
    assert all(ns["exclusive"] for ns in reg["namespaces"]["users"])

    def claimed(mxid: str) -> bool:
        return any(re.fullmatch(rx, mxid) for rx in regexes)

    assert claimed(ids.GhostIDs("msn_{userid}", "hs.test").mxid("Zoë+x@Example.com"))
    assert claimed("@msnbot:hs.test")
    assert not claimed("@alice:hs.test")
    assert not claimed("@msn_alice=40x.y:other.test")
    assert not claimed("@msn_:hs.test")


def test_refuses_to_start_with_placeholder_tokens(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml")
    proc = run_bridge(tmp_path, "-c", "config.yaml")
    assert proc.returncode == 11, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "appservice.as_token is not configured" in out
    assert "generate the registration" in out


def test_refuses_to_start_with_example_homeserver(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(EXAMPLE.read_text())
    proc = run_bridge(tmp_path, "-c", "config.yaml")
    assert proc.returncode == 11, proc.stdout + proc.stderr
    assert "homeserver.address is not configured" in proc.stdout + proc.stderr


def test_refuses_unsaved_credential_key(tmp_path: Path) -> None:
    write_config(
        tmp_path / "config.yaml", **{"appservice.as_token": "a", "appservice.hs_token": "b"}
    )
    proc = run_bridge(tmp_path, "-n", "-c", "config.yaml")
    assert proc.returncode == 13, proc.stdout + proc.stderr
    assert "cannot be saved" in proc.stderr
    assert not (tmp_path / "matrix-msn.db").exists()


def test_setup_local_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yaml"
    reg = tmp_path / "registration-generated.yaml"
    argv = ["--config", str(cfg), "--registration", str(reg)]

    assert setup_main(argv) == EXIT_NEW_CONFIG
    err = capsys.readouterr().err
    for what in ("homeserver.address", "homeserver.domain", "msn.server", "bridge.permissions"):
        assert what in err
    assert cfg.read_text() == EXAMPLE.read_text()

    assert setup_main(argv) == EXIT_PLACEHOLDERS
    assert "homeserver.address" in capsys.readouterr().err
    assert not reg.exists()

    text = cfg.read_text()
    text = text.replace("address: https://example.com", "address: http://127.0.0.1:8008")
    text = text.replace("domain: example.com", "domain: hs.test")
    text = text.replace("passport_url: null", "passport_url: http://127.0.0.1:8081/login")
    cfg.write_text(text)
    assert setup_main(argv) == EXIT_NEW_REGISTRATION
    err = capsys.readouterr().err
    assert "app_service_config_files" in err and str(reg.resolve()) in err
    registration = load_yaml(reg)
    assert registration["receive_ephemeral"] is True
    assert load_yaml(cfg)["appservice"]["as_token"] == registration["as_token"]

    assert setup_main(argv) == 0
    assert "example.com" in capsys.readouterr().err  # permissions still need editing

    registration["as_token"] = "something-else"
    with open(reg, "w") as stream:
        yaml.dump(registration, stream)
    assert setup_main(argv) == EXIT_MISMATCH
    assert "do not match" in capsys.readouterr().err


def test_make_run_first_stops_are_not_errors(tmp_path: Path) -> None:
    """`make run`'s first-run stops exit 0 without make's "Error"; messages name `make run`."""
    cfg, reg = tmp_path / "config.yaml", tmp_path / "registration-generated.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "MAKEFLAGS"))}

    def make_run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-s", "run", f"CONFIG={cfg}", f"REGISTRATION={reg}"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = make_run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Error" not in first.stdout + first.stderr
    assert f"Created {cfg} from the example configuration" in first.stderr
    assert "run `make run` again" in first.stderr
    second = make_run()
    assert second.returncode == 0 and "Error" not in second.stdout + second.stderr
    assert "is not configured" in second.stderr and "run `make run` again" in second.stderr
    text = cfg.read_text()
    text = text.replace("address: https://example.com", "address: http://127.0.0.1:8008")
    text = text.replace("domain: example.com", "domain: hs.test")
    text = text.replace("passport_url: null", "passport_url: http://127.0.0.1:8081/login")
    cfg.write_text(text)
    third = make_run()
    assert third.returncode == 0 and "Error" not in third.stdout + third.stderr
    assert f"Generated the appservice registration {reg}" in third.stderr
    assert "restart the homeserver and run `make run` again" in third.stderr
    assert reg.exists()

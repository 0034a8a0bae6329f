"""The MSN test server's command line and accounts file."""

from __future__ import annotations

from pathlib import Path
import asyncio
import json
import signal
import sys

import pytest

from tests.msn_server import AL, BL, FL, RL, MSNServer
from tests.msn_server.__main__ import apply_accounts, load_accounts
from tests.msn_server.rawclient import RawClient

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]


async def test_cli_runs_and_prints_addresses() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.msn_server", "--demo", "--ns-port", "0", "--sb-port", "0",
        "--http-port", "0", "--escargot",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        printed: dict[str, str] = {}
        while "accounts" not in printed:
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
            assert line, "the server exited early"
            key, _, value = line.partition(":")
            printed[key.strip()] = value.strip()
        assert printed["dispatch server"] == "(none)"
        assert "alice@example.com" in printed["accounts"]
        async with await RawClient.connect(printed["notification server"]) as client:
            await client.cmd("VER", "MSNP12", "CVR0")
            assert (await client.read()).line == "VER 1 MSNP12 CVR0"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_cli_help() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.msn_server", "--help", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    for flag in ("--ns-port", "--ds-port", "--sb-port", "--http-port", "--accounts", "--demo",
                 "--escargot", "--challenge-interval"):  # fmt: skip
        assert flag.encode() in out


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_accounts_file(tmp_path: Path, suffix: str) -> None:
    accounts = [
        {"email": "ann@example.com", "password": "pw", "name": "Ann", "groups": ["Work"],
         "contacts": [{"email": "ben@example.com", "lists": ["FL", "BL"], "groups": ["Work"]}]},
        {"email": "ben@example.com", "password": "pw2", "contacts": ["ann@example.com"]},
    ]  # fmt: skip
    path = tmp_path / f"accounts{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(accounts))
    else:
        from ruamel.yaml import YAML

        with path.open("w") as f:
            YAML(typ="safe").dump(accounts, f)
    server = MSNServer()
    apply_accounts(server, load_accounts(path))
    ann, ben = server.account("ann@example.com"), server.account("ben@example.com")
    assert ben.name == "ben@example.com"
    assert ann.lists_of(ben.email) == FL | BL | RL
    assert ben.lists_of(ann.email) == FL | AL | RL
    work = ann.group_by_name("Work")
    assert work is not None and ann.contacts[ben.key].groups == [work.number]


def test_bad_accounts_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"email": "x@example.com"}]))
    with pytest.raises(ValueError, match="password"):
        apply_accounts(MSNServer(), load_accounts(path))
    path.write_text(json.dumps({"email": "x@example.com"}))
    with pytest.raises(ValueError, match="list of accounts"):
        load_accounts(path)

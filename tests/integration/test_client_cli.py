"""``python -m bridge.msnp check|send`` run as a subprocess against tests/msn_server."""

from __future__ import annotations

from pathlib import Path
import asyncio
import os
import sys

import pytest

from bridge.msnp.events import TextMessageReceived
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import logged_in

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.msnp",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_md5_with_stdin_password() -> None:
    async with running_server() as server:
        bob, _ = await logged_in(server, "bob@example.com", 12)
        try:
            code, out, err = await run_cli(
                "check",
                "--server",
                server.server_address,
                "--email",
                "alice@example.com",
                "--protocol",
                "MSNP7",
                "--allow-md5-login",
                "--timeout",
                "5",
                stdin="alice123\n",
            )
        finally:
            await bob.close()
    assert code == 0, err
    assert "using MSNP7" in out
    bob_line = next(line for line in out.splitlines() if "bob@example.com" in line)
    assert "groups=Friends" in bob_line and "status=Online" in bob_line
    carol_line = next(line for line in out.splitlines() if "carol@example.com" in line)
    assert "status=Offline" in carol_line


@pytest.mark.parametrize("protocol", ["MSNP12", "MSNP18", "MSNP15", "13"])
async def test_check_with_password_file(tmp_path: Path, protocol: str) -> None:
    """TWN at MSNP12, the RST ticket at 13, SSO at 15 and 18: the contact list either way."""
    password_file = tmp_path / "pw"
    password_file.write_text("alice123\n")
    async with running_server() as server:
        code, out, err = await run_cli(
            "check",
            "--server",
            server.server_address,
            "--email",
            "alice@example.com",
            "--password-file",
            str(password_file),
            "--protocol",
            protocol,
            "--passport-url",
            server.passport_url,
        )
    assert code == 0, err
    assert f"using MSNP{protocol.removeprefix('MSNP')}" in out and "Friends" in out
    bob_line = next(line for line in out.splitlines() if "bob@example.com" in line)
    assert "groups=Friends" in bob_line and "lists=FL,AL,RL" in bob_line


@pytest.mark.parametrize(
    ("protocol", "password", "expected"),
    [("7", "wrong", 2), ("12", "wrong", 2), ("18", "wrong", 2), ("2", "x", 4)],
)
async def test_check_errors(protocol: str, password: str, expected: int) -> None:
    async with running_server(protocols=range(3, 19)) as server:
        code, out, err = await run_cli(
            "check",
            "--server",
            server.server_address,
            "--email",
            "alice@example.com",
            "--protocol",
            protocol,
            "--allow-md5-login",
            "--passport-url",
            server.passport_url,
            stdin=f"{password}\n",
        )
    assert code == expected
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert out == ""


async def test_check_refuses_md5_unless_allowed() -> None:
    async with running_server() as server:
        code, out, err = await run_cli(
            "check",
            "--server",
            server.server_address,
            "--email",
            "alice@example.com",
            "--protocol",
            "MSNP7",
            stdin="alice123\n",
        )
        assert server.counters["ds_connections"] + server.counters["ns_connections"] == 0
    assert code == 4 and out == ""
    assert "MD5" in err and "allow_md5_login" in err


async def test_check_unreachable() -> None:
    async with running_server() as server:
        address = server.ns_address
    code, _, err = await run_cli(
        "check", "--server", address, "--email", "a@example.com", "--timeout", "3", stdin="x\n"
    )
    assert code == 3
    assert "cannot connect" in err


async def test_send_delivered_and_not_delivered() -> None:
    async with running_server() as server:
        bob, rec = await logged_in(server, "bob@example.com", 9)
        try:
            code, out, err = await run_cli(
                "send",
                "--server",
                server.server_address,
                "--email",
                "alice@example.com",
                "--passport-url",
                server.passport_url,
                "--to",
                "bob@example.com",
                "--text",
                "hello from the CLI ✓",
                stdin="alice123\n",
            )
            assert code == 0, err
            assert "delivered" in out
            got = await rec.wait(TextMessageReceived, sender="alice@example.com")
            assert got.text == "hello from the CLI ✓"

            code, _, err = await run_cli(
                "send",
                "--server",
                server.server_address,
                "--email",
                "alice@example.com",
                "--passport-url",
                server.passport_url,
                "--to",
                "carol@example.com",
                "--text",
                "nobody home",
                "--protocol",
                "8-12",
                stdin="alice123\n",
            )
            assert code == 5
            assert "217" in err
            # from MSNP13 the text is stored as an offline message instead
            code, _, err = await run_cli(
                "send",
                "--server",
                server.server_address,
                "--email",
                "alice@example.com",
                "--passport-url",
                server.passport_url,
                "--to",
                "carol@example.com",
                "--text",
                "read me later",
                stdin="alice123\n",
            )
            assert code == 0, err
            assert [m.text for m in server.oims["carol@example.com"]] == ["read me later"]
        finally:
            await bob.close()


async def test_help_documents_exit_codes() -> None:
    code, out, _ = await run_cli("send", "--help")
    assert code == 0
    for text in ("wrong e-mail address or password", "unreachable", "not delivered"):
        assert text in out

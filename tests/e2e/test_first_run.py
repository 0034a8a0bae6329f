"""The first hour, as the README tells it: clone, ``pip install``, run ``python -m bridge`` from
another directory and follow what it prints until the bridge runs against a real Synapse.

The repository is cloned (so only what is committed counts, as in CI), installed with uv into a
new venv, and every command runs outside the checkout, without PYTHONPATH: what works here works
for someone who installed the package anywhere.
"""

from __future__ import annotations

from pathlib import Path
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.msn_server.fixtures import running_server
from tests.support.harness import REPO
from tests.support.synapse import SynapseServer, free_port, synapse_python

pytestmark = pytest.mark.timeout(600)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_env() -> dict[str, str]:
    drop = ("BRIDGE_", "MATRIX_MSN_", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def sh(*argv: str | Path, cwd: Path, timeout: float = 300) -> tuple[int, str]:
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, ANSI.sub("", proc.stdout)


def install(tmp_path: Path) -> Path:
    """git clone + a new venv + ``uv pip install '<clone>[sqlite]'``; returns its python."""
    src = tmp_path / "src"
    code, out = sh("git", "clone", "--quiet", REPO, src, cwd=tmp_path)
    assert code == 0, out
    code, out = sh(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path)
    assert code == 0, out
    python = tmp_path / "venv" / "bin" / "python"
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    code, out = sh(uv, "pip", "install", "--python", python, "-q", f"{src}[sqlite]", cwd=tmp_path)
    assert code == 0, out
    return python


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return None


async def test_clone_install_and_first_run(tmp_path: Path) -> None:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    python = await asyncio.to_thread(install, tmp_path)
    run = tmp_path / "somewhere-else"
    run.mkdir()

    async def bridge(*args: str) -> tuple[int, str]:
        return await asyncio.to_thread(sh, python, "-m", "bridge", *args, cwd=run)

    # the installed package is used, not the checkout
    code, out = await asyncio.to_thread(
        sh, python, "-c", "import bridge; print(bridge.__file__)", cwd=run
    )
    assert code == 0 and str(tmp_path / "venv") in out, out

    # 1: no config yet: the example is written there, and the message says what to edit next
    code, out = await bridge()
    assert code == 10, out
    assert out.startswith("Wrote config.yaml, a copy of the example configuration. Edit it:")
    assert f"{python} -m bridge -g -c config.yaml -r registration-generated.yaml" in out
    config = run / "config.yaml"
    assert config.read_text() == (tmp_path / "src" / "example-config.yaml").read_text()

    # 2: unedited: every placeholder at once, nothing written
    code, out = await bridge()
    assert code == 11 and "config.yaml is not ready:" in out and "Traceback" not in out, out
    for option in ("homeserver.address", "homeserver.domain", "appservice.as_token"):
        assert f"  {option} is not configured" in out
    assert config.read_text() == (tmp_path / "src" / "example-config.yaml").read_text()

    # 3: edited as the README says, then -g: the registration and the next step
    async with running_server(dispatch=False) as msn:
        hs = SynapseServer(workdir=tmp_path / "synapse", port=free_port())
        as_port = free_port()
        text = config.read_text()
        for old, new in (
            ("address: https://example.com", f"address: {hs.url}"),
            ("domain: example.com", "domain: msn.test"),
            ("address: http://localhost:29340", f"address: http://127.0.0.1:{as_port}"),
            ("port: 29340", f"port: {as_port}"),
            ("server: 127.0.0.1:1863", f"server: {msn.server_address}"),
            ("passport_url: null", f"passport_url: {msn.passport_url}"),
            ('    "example.com": user', '    "msn.test": user'),
        ):
            old, new = f"\n    {old}\n", f"\n    {new}\n"
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        config.write_text(text)
        code, out = await bridge("-g", "-c", "config.yaml", "-r", "registration-generated.yaml")
        registration = run / "registration-generated.yaml"
        assert code == 0, out
        assert f"Wrote the registration {registration}" in out
        assert "Next: add it to app_service_config_files" in out
        assert "restart the homeserver" in out and f"{python} -m bridge" in out

        # 4: the homeserver runs, but without the registration: said so, with the file
        await hs.start()
        try:
            code, out = await bridge()
            assert code == 17, out
            assert f"Add {registration} to app_service_config_files" in out
            assert "Traceback" not in out

            # 5: installed and the homeserver restarted: the bridge runs
            hs.app_service_config_files = [registration]
            await hs.restart()
            before = config.read_text()
            proc = await asyncio.create_subprocess_exec(
                str(python),
                "-m",
                "bridge",
                cwd=run,
                env=clean_env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                ready = f"http://127.0.0.1:{as_port}/_matrix/mau/ready"
                deadline = time.monotonic() + 90
                while await asyncio.to_thread(http_status, ready) != 200:
                    assert proc.returncode is None, "the bridge exited"
                    assert time.monotonic() < deadline, "the bridge did not get ready"
                    await asyncio.sleep(0.2)
                user = await hs.client("newcomer")
                try:
                    room = await user.create_dm("@msnbot:msn.test")  # type: ignore[arg-type]
                    await user.wait_for_membership(room, "@msnbot:msn.test", "join", timeout=30)
                    await user.send_text(room, "login alice@example.com alice123")
                    await user.wait_for_message(
                        room, re.compile(r"^Logged in as \*\*Alice\*\*"), timeout=60
                    )
                finally:
                    await user.close()
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGINT)
                out_bytes, _ = await asyncio.wait_for(proc.communicate(), 60)
            out = ANSI.sub("", out_bytes.decode(errors="replace"))
            assert proc.returncode == 0, out
            assert "The bridge is running (bot: @msnbot:msn.test)" in out
            assert "Traceback" not in out
            # -g already stored the tokens and the key: running changed nothing in the file
            assert config.read_text() == before
        finally:
            await hs.stop()
            hs.cleanup()

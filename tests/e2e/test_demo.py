"""``make demo`` as a user runs it: follow what it prints, chat both ways, Ctrl-C, run it again.

The Matrix side logs in with the printed homeserver, user and password and sends the printed
``login`` command to the bot; the MSN side is the printed ``python -m bridge.msnp chat`` command
in a pseudo-terminal. Ctrl-C goes to the whole process group, as a terminal sends it.
"""

from __future__ import annotations

from pathlib import Path
import asyncio
import json
import os
import re
import shlex
import signal
import socket
import sys
import urllib.request

import pytest

from tests.support.harness import REPO
from tests.support.synapse import MatrixTestClient
from tests.support.terminal import Terminal

pytestmark = pytest.mark.timeout(400)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "MATRIX_MSN_"))}
    env.pop("MAKEFLAGS", None)
    return env


class Demo:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.out = ""

    async def start(self) -> dict[str, str]:
        """Start and read what it prints until the banner is complete."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=REPO,
            env=demo_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        while "Logs:" not in self.out:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 240)
            assert line, f"the demo exited before it was ready:\n{self.out}"
            self.out += ANSI.sub("", line.decode(errors="replace"))
        return self.parse()

    def parse(self) -> dict[str, str]:
        def find(pattern: str) -> str:
            match = re.search(pattern, self.out, re.M)
            assert match, f"{pattern!r} not in:\n{self.out}"
            return match.group(1)

        return {
            "homeserver": find(r"^  homeserver  (\S+)$"),
            "user": find(r"^  user        \S+\s+\((@\S+)\)$"),
            "password": find(r"^  password    (\S+)$"),
            "bot": find(r"Start a chat with (@\S+) and send:"),
            "login": find(r"and send:\n  (login .+)$"),
            "chat": find(
                r"in another terminal \(password bob123\):\n  (.+ -m bridge\.msnp chat .+)$"
            ),
        }

    async def interrupt(self) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
        assert self.proc is not None and self.proc.stdout is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        rest = await asyncio.wait_for(self.proc.stdout.read(), 90)
        self.out += ANSI.sub("", rest.decode(errors="replace"))
        return await self.proc.wait()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


async def matrix_login(info: dict[str, str]) -> MatrixTestClient:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": info["user"]},
        "password": info["password"],
    }

    def post() -> dict[str, str]:
        req = urllib.request.Request(
            info["homeserver"] + "/_matrix/client/v3/login",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            return dict(json.loads(response.read()))

    token = (await asyncio.to_thread(post))["access_token"]
    client = MatrixTestClient(info["homeserver"], info["user"], token)  # type: ignore[arg-type]
    await client.start()
    return client


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


async def test_demo_walkthrough(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    demo = Demo(["make", "-s", "demo", f"DEMO_ARGS=--free-ports --dir {state}"])
    user: MatrixTestClient | None = None
    bob: Terminal | None = None
    try:
        info = await demo.start()
        assert info["user"] == "@demo:localhost" and info["bot"] == "@msnbot:localhost"
        assert info["login"] == "login alice@example.com alice123"

        user = await matrix_login(info)
        control = await user.create_dm(info["bot"])  # type: ignore[arg-type]
        await user.wait_for_membership(control, info["bot"], "join", timeout=30)
        await user.send_text(control, info["login"])
        await user.wait_for_message(
            control,
            re.compile(r"^Logged in as \*\*Alice\*\* \(alice@example\.com\)"),
            sender=info["bot"],
            timeout=60,
        )

        bob = await Terminal(shlex.split(info["chat"]), demo_env(), cwd=str(REPO)).start()
        await bob.expect("Password:")
        bob.type("bob123")
        await bob.expect("Signed in as Bob <bob@example.com>")
        await bob.expect(re.compile(r"Alice <alice@example.com>  Online"))
        bob.type("/open alice")
        await bob.expect("* talking to Alice")
        bob.type("hello from msn")

        ghost = re.compile(r"^@msn_bob=40example\.com:localhost$")
        room = await user.wait_for(
            lambda: next(
                (
                    room_id
                    for room_id, events in user.invites.items()
                    if any(ghost.match(e.get("sender", "")) for e in events)
                ),
                None,
            ),
            timeout=60,
            what="an invite from bob's ghost",
        )
        await user.join(room)
        await user.wait_for_message(room, "hello from msn", timeout=30)
        await user.send_text(room, "hi bob, from Matrix")
        await bob.expect("Alice: hi bob, from Matrix", timeout=30)
        bob.type("/quit")
        assert await bob.wait() == 0
    finally:
        if bob is not None:
            await bob.close()
        if user is not None:
            await user.close()
        code = await demo.interrupt() if demo.proc and demo.proc.returncode is None else None
        await demo.kill()
    assert "Traceback" not in demo.out, demo.out
    assert "demo: stopped;" in demo.out, demo.out
    assert code is not None
    assert refused(info["homeserver"])
    # nothing the user made was removed
    for kept in ("synapse/homeserver.db", "matrix-msn.db", "config.yaml", "state.json"):
        assert (state / kept).exists(), kept

    # again, directly: the same account, its rooms and the bridge login are still there
    again = Demo([sys.executable, "-m", "tests.demo", "--free-ports", "--dir", str(state)])
    try:
        info2 = await again.start()
        assert info2["password"] == info["password"]
        assert info2["homeserver"] != info["homeserver"]  # new free ports
        user = await matrix_login(info2)
        try:
            rooms = await user.api.get_joined_rooms()
            assert control in rooms and room in rooms
            mark = user.mark(control)
            await user.send_text(control, "ping")
            await user.wait_for_message(
                control,
                re.compile(r"alice@example\.com"),
                sender=info["bot"],
                after=mark,
                timeout=30,
            )
        finally:
            await user.close()
        assert await again.interrupt() == 0
    finally:
        await again.kill()
    assert "Traceback" not in again.out, again.out

"""``make demo``: a Synapse, the MSN test server and the bridge on this machine, plus a Matrix
account to try the bridge with from any Matrix client.

Ctrl-C stops everything and deletes nothing: the demo directory (default ``.demo``) keeps the
homeserver's database, the bridge's config and database and the account, so the next
``make demo`` continues where this one stopped (delete the directory to start over).

    python -m tests.demo [--dir .demo] [--free-ports] [--synapse-port 8008] ...
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys

from ruamel.yaml import YAML

from bridge.config import Config, base_config_path
from bridge.startup import create_config, python_command
from tests.msn_server import MSNServer, ServerConfig
from tests.msn_server.fixtures import DEMO_ACCOUNTS, add_demo_accounts
from tests.support.harness import REPO, BridgeProcess
from tests.support.synapse import SynapseServer, free_port, synapse_python

SERVER_NAME = "localhost"
USER = "demo"
PORTS = {"synapse": 8008, "bridge": 29340, "msn": 1863, "msn_sb": 1864, "msn_http": 8081}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dir", type=Path, default=REPO / ".demo", help="state directory (kept)")
    parser.add_argument(
        "--free-ports", action="store_true", help="use free ports, not the usual ones"
    )
    for name, port in PORTS.items():
        option = "--" + name.replace("_", "-") + "-port"
        parser.add_argument(option, type=int, default=port, help=f"default {port}")
    return parser.parse_args(argv)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _load_state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        state = {}
    for key in ("shared_secret", "macaroon_secret_key", "form_secret"):
        state.setdefault(key, secrets.token_hex(16))
    state.setdefault("password", secrets.token_urlsafe(9))
    state.setdefault("registered", False)
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state, indent=2) + "\n")
    os.chmod(path, 0o600)


def configure_bridge(workdir: Path, synapse: SynapseServer, msn: MSNServer, port: int) -> None:
    """config.yaml (created once from the example, then only the addresses change) and the
    registration (generated once, then only its url follows the port)."""
    config_path = workdir / "config.yaml"
    registration = workdir / "registration.yaml"
    if not config_path.exists():
        create_config(config_path, (REPO / "example-config.yaml").read_text())
    config = Config(str(config_path), str(registration), base_config_path())
    config.load()
    config.update(save=False)
    config["homeserver.address"] = synapse.url
    config["homeserver.domain"] = SERVER_NAME
    config["appservice.address"] = f"http://127.0.0.1:{port}"
    config["appservice.hostname"] = "127.0.0.1"
    config["appservice.port"] = port
    config["msn.server"] = msn.server_address
    config["msn.passport_url"] = msn.passport_url
    config["bridge.permissions"] = {
        "*": "none",
        SERVER_NAME: "user",
        f"@{USER}:{SERVER_NAME}": "admin",
    }
    config.save()
    bridge = BridgeProcess(workdir, config_path, port)
    if not registration.exists():
        bridge.generate_registration(registration)
        return
    yaml = YAML()
    data = yaml.load(registration.read_text())
    if data.get("url") != f"http://127.0.0.1:{port}":
        data["url"] = f"http://127.0.0.1:{port}"
        with open(registration, "w") as stream:
            yaml.dump(data, stream)


def banner(synapse: SynapseServer, msn: MSNServer, state: dict[str, Any], workdir: Path) -> str:
    chat = (
        f"{python_command()} -m bridge.msnp chat --server {msn.server_address} "
        f"--passport-url {msn.passport_url} --email bob@example.com"
    )
    accounts = ", ".join(email.split("@")[0] for email, _, _ in DEMO_ACCOUNTS)
    try:
        shown = workdir.relative_to(Path.cwd())
    except ValueError:
        shown = workdir
    return f"""
matrix-msn demo is running. Ctrl-C stops it; everything stays in {shown}/ (delete it to start over).

Open this homeserver in a Matrix client on this machine (Element: Sign in -> Edit homeserver):
  homeserver  {synapse.url}
  user        {USER}   (@{USER}:{SERVER_NAME})
  password    {state['password']}

Start a chat with @msnbot:{SERVER_NAME} and send:
  login alice@example.com alice123
Alice's contacts bob and carol appear. To be bob, run in another terminal (password bob123):
  {chat}
then type /open alice and a message.

MSN test server on {msn.ns_address}: accounts {accounts} (@example.com, passwords <name>123).
Logs: {shown}/bridge.log, {shown}/synapse/homeserver.log
""".lstrip("\n")


async def run(args: argparse.Namespace) -> int:
    workdir: Path = args.dir.resolve()
    ports = {name: getattr(args, f"{name}_port") for name in PORTS}
    if args.free_ports:
        ports = {name: free_port() for name in PORTS}
    busy = [f"{name} {port}" for name, port in ports.items() if not _port_free(port)]
    if busy:
        print(f"demo: ports in use: {', '.join(busy)} (try --free-ports)", file=sys.stderr)
        return 1
    if synapse_python() is None:
        print(
            "demo: Synapse is not installed: bash tests/install-test-deps.sh --synapse-only",
            file=sys.stderr,
        )
        return 1
    workdir.mkdir(parents=True, exist_ok=True)
    state_path = workdir / "state.json"
    state = _load_state(state_path)
    _save_state(state_path, state)

    msn = MSNServer(
        ServerConfig(
            ns_port=ports["msn"],
            sb_port=ports["msn_sb"],
            http_port=ports["msn_http"],
            dispatch=False,
        )
    )
    add_demo_accounts(msn)
    synapse = SynapseServer(
        workdir=workdir / "synapse",
        server_name=SERVER_NAME,
        port=ports["synapse"],
        shared_secret=state["shared_secret"],
        macaroon_secret_key=state["macaroon_secret_key"],
        form_secret=state["form_secret"],
        app_service_config_files=[workdir / "registration.yaml"],
    )
    bridge = BridgeProcess(workdir, workdir / "config.yaml", ports["bridge"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def start() -> None:
        await msn.start()
        await asyncio.to_thread(configure_bridge, workdir, synapse, msn, ports["bridge"])
        await synapse.start()
        await bridge.start(timeout=120)
        if not state["registered"]:
            await synapse.register_user(USER, state["password"])
            state["registered"] = True
            _save_state(state_path, state)

    code = 0
    try:
        starting = asyncio.ensure_future(start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            print("demo: interrupted while starting", file=sys.stderr)
            return 130
        starting.result()
        print(banner(synapse, msn, state, workdir), flush=True)
        while not stop.is_set():
            await asyncio.wait({stopping}, timeout=1.0)
            if not bridge.running and not stop.is_set():
                print(
                    f"demo: the bridge stopped unexpectedly\n{bridge.log_tail(30)}",
                    file=sys.stderr,
                )
                code = 1
                break
        stopping.cancel()
    except Exception as e:  # a component did not start: say which, stop the rest
        print(f"demo: {e}", file=sys.stderr)
        code = 1
    finally:
        print(
            "demo: stopping the bridge, Synapse and the MSN server...", file=sys.stderr, flush=True
        )
        await bridge.stop()
        await synapse.stop()
        with contextlib.suppress(Exception):
            await msn.stop()
        print(f"demo: stopped; {workdir} is kept.", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

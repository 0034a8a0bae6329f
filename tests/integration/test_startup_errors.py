"""Every start-up error of ``python -m bridge``: one or two lines, an exit code, no traceback.

The bridge runs as a subprocess, as a user would start it, against a real Synapse (one per
module, with two registrations installed: a good one and one whose URL leads nowhere) where the
error needs a homeserver. A refused start must leave config.yaml byte for byte as it was.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from aiohttp import ClientSession, web
from ruamel.yaml import YAML
import pytest

from tests.support.synapse import SynapseServer, free_port, synapse_python

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-config.yaml"
SERVER_NAME = "msn.test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\] \[(\w+)@([\w.]+)\] ?(.*)$")

pytestmark = pytest.mark.timeout(180)


# region helpers


@dataclass
class Run:
    code: int
    out: str

    @property
    def critical(self) -> list[str]:
        """The message of the CRITICAL record (its continuation lines included), or, when the
        error came before logging was set up, the plain lines."""
        lines = self.out.splitlines()
        for index, line in enumerate(lines):
            match = RECORD.match(line)
            if match and match.group(1) == "CRITICAL":
                message = [match.group(3)]
                for more in lines[index + 1 :]:
                    if RECORD.match(more):
                        break
                    message.append(more)
                return [m for m in message if m.strip()]
        return [line for line in lines if line.strip() and not RECORD.match(line)]

    def warnings(self) -> list[str]:
        found = []
        for line in self.out.splitlines():
            match = RECORD.match(line)
            if match and match.group(1) == "WARNING":
                found.append(match.group(3))
        return found


def bridge_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "MATRIX_MSN_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


def run_bridge(cwd: Path, *args: str, timeout: float = 120) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        env=bridge_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, ANSI.sub("", proc.stdout))


def assert_error(run: Run, code: int, *phrases: str, max_lines: int = 2) -> str:
    """Exit ``code``, no traceback, a message of at most ``max_lines`` lines with ``phrases``."""
    assert "Traceback" not in run.out, run.out
    assert run.code == code, run.out
    message = run.critical
    assert message, run.out
    assert len(message) <= max_lines, message
    text = "\n".join(message)
    for phrase in phrases:
        assert phrase in text, text
    return text


def load_yaml(path: Path) -> Any:
    return YAML().load(path.read_text())


def write_config(path: Path, **changes: Any) -> None:
    """The example with the placeholders replaced, plus ``changes`` (dotted keys)."""
    yaml = YAML()
    yaml.indent(mapping=4, sequence=8, offset=4)  # the example's layout
    data = yaml.load(EXAMPLE.read_text())
    defaults = {
        "homeserver.address": "http://127.0.0.1:9",
        "homeserver.domain": SERVER_NAME,
        "msn.passport_url": "http://127.0.0.1:9/login",
        "appservice.database": f"sqlite:{path.parent / 'bridge.db'}",
        "appservice.as_token": "as-token",
        "appservice.hs_token": "hs-token",
    }
    for key, value in {**defaults, **changes}.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    with open(path, "w") as stream:
        yaml.dump(data, stream)


def generate(workdir: Path) -> Path:
    run = run_bridge(workdir, "-g", "-r", "registration-generated.yaml")
    assert run.code == 0, run.out
    registration = workdir / "registration-generated.yaml"
    assert registration.exists()
    return registration


def listening_config(workdir: Path, homeserver: str, port: int, **changes: Any) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    write_config(
        config,
        **{
            "homeserver.address": homeserver,
            "appservice.address": f"http://127.0.0.1:{port}",
            "appservice.port": port,
            **changes,
        },
    )
    return config


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return None


@dataclass
class Homeserver:
    synapse: SynapseServer
    good: Path  # a config dir whose registration is installed
    good_port: int
    dead: Path  # installed registration whose url leads nowhere
    dead_port: int


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    root = tmp_path_factory.mktemp("startup-hs")
    synapse = SynapseServer(workdir=root / "synapse", server_name=SERVER_NAME, port=free_port())
    good_port, dead_port, nowhere = free_port(), free_port(), free_port()
    good = root / "good"
    listening_config(good, synapse.url, good_port)
    dead = root / "dead"
    listening_config(
        dead,
        synapse.url,
        dead_port,
        **{
            "appservice.id": "msn-dead",
            "appservice.bot_username": "deadbot",
            "appservice.address": f"http://127.0.0.1:{nowhere}",
            "bridge.username_template": "dead_{userid}",
        },
    )
    synapse.app_service_config_files = [generate(good), generate(dead)]
    asyncio.run(synapse.start())
    try:
        yield Homeserver(synapse, good, good_port, dead, dead_port)
    finally:
        asyncio.run(synapse.stop())
        synapse.cleanup()


# endregion
# region the config file


def test_placeholders_are_listed_at_once_and_the_file_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(EXAMPLE.read_text().replace("max_body_size: 1", "max_body_size: null"))
    before = config.stat()
    original = config.read_bytes()
    run = run_bridge(tmp_path)
    message = assert_error(run, 11, "config.yaml is not ready", max_lines=6)
    lines = message.splitlines()
    assert [line.split(" is ")[0].strip() for line in lines[1:-1]] == [
        "homeserver.address",
        "homeserver.domain",
        "appservice.as_token",
        "msn.passport_url",
    ]
    assert all("is not configured" in line for line in lines[1:-1])
    assert lines[-1].startswith("Edit config.yaml, then run `") and "-m bridge" in lines[-1]
    # a refused start writes nothing: same bytes, same file
    assert config.read_bytes() == original
    after = config.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert not (tmp_path / "matrix-msn.db").exists()


def test_bad_values_are_invalid_not_unconfigured(tmp_path: Path) -> None:
    write_config(
        tmp_path / "config.yaml",
        **{
            "homeserver.address": "127.0.0.1:8008",
            "msn.server": "nope",
            "msn.protocol_min": 9,
            "msn.protocol_max": 8,
        },
    )
    original = (tmp_path / "config.yaml").read_bytes()
    message = assert_error(run_bridge(tmp_path), 11, max_lines=6)
    assert (
        "homeserver.address is invalid: '127.0.0.1:8008' is not an http:// or https:// URL"
        in message
    )
    assert "msn.server is invalid: 'nope' is not host:port" in message
    assert "msn.protocol_min/protocol_max is invalid" in message
    assert "not configured" not in message
    assert (tmp_path / "config.yaml").read_bytes() == original


def test_msnp8_needs_a_passport_or_nexus_url(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml", **{"msn.passport_url": None, "msn.protocol_max": 9})
    message = assert_error(run_bridge(tmp_path), 11, max_lines=3)
    assert "msn.passport_url is not configured: MSNP8 and newer (msn.protocol_max is 9)" in message
    assert "msn.nexus_url" in message


def test_misspelt_key_is_kept_with_a_warning(tmp_path: Path) -> None:
    """The issue's trap: a typo used to delete the value; then came a nexus error at login."""
    config = tmp_path / "config.yaml"
    write_config(config, **{"msn.passport_url": None})
    text = re.sub(
        r"\n( +)passport_url:.*\n",
        r"\n\1passport_url: null\n\1pasport_url: http://127.0.0.1:8081/login  # typo\n",
        config.read_text(),
    )
    typo_line = next(line for line in text.splitlines() if "pasport_url" in line)
    assert "pasport_url" in text
    config.write_text(text)
    run = run_bridge(tmp_path)
    hint = "msn.pasport_url is not an option — did you mean msn.passport_url? (kept, ignored)"
    assert any(hint in warning for warning in run.warnings()), run.out
    assert_error(run, 11, "msn.passport_url is not configured", max_lines=3)
    assert config.read_text() == text
    # -g rewrites the file (tokens): the misspelt line is still there, word for word
    md5 = {"protocol_min: 8": "protocol_min: 2", "protocol_max: 18": "protocol_max: 7"}
    md5["allow_md5_login: false"] = "allow_md5_login: true"
    for old, new in md5.items():
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    run = run_bridge(tmp_path, "-g")
    assert run.code == 0, run.out
    assert any(hint in warning for warning in run.warnings()), run.out
    assert typo_line in config.read_text().splitlines()
    assert load_yaml(config)["msn"]["pasport_url"] == "http://127.0.0.1:8081/login"


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml")
    text = (
        (tmp_path / "config.yaml")
        .read_text()
        .replace("    domain: msn.test\n", "    domain: [msn.test\n")
    )
    (tmp_path / "config.yaml").write_text(text)
    line = text.splitlines().index("    domain: [msn.test") + 1
    message = assert_error(
        run_bridge(tmp_path), 13, "config.yaml line", "not valid YAML", max_lines=1
    )
    assert f"at line {line})" in message


def test_generate_without_a_config_writes_the_example(tmp_path: Path) -> None:
    run = run_bridge(tmp_path, "-g")
    message = assert_error(run, 10, "Wrote config.yaml", "Edit it", max_lines=1)
    assert "-m bridge -g -c config.yaml -r registration-generated.yaml" in message
    config = tmp_path / "config.yaml"
    assert config.read_text() == EXAMPLE.read_text()
    assert config.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "registration-generated.yaml").exists()


def test_generate_prints_the_next_step(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml")
    run = run_bridge(tmp_path, "-g")
    assert run.code == 0 and "Traceback" not in run.out, run.out
    registration = tmp_path / "registration-generated.yaml"
    assert f"Wrote the registration {registration}" in run.out
    assert registration.stat().st_mode & 0o777 == 0o600  # it holds the appservice tokens
    assert "add it to app_service_config_files" in run.out and "restart the homeserver" in run.out
    assert not (tmp_path / "registration.yaml").exists()


def test_unusable_database(tmp_path: Path) -> None:
    port = free_port()
    write_config(
        tmp_path / "config.yaml",
        **{
            "appservice.database": f"postgres://u:secret@127.0.0.1:{port}/db",
        },
    )
    message = assert_error(run_bridge(tmp_path), 25, "appservice.database", max_lines=2)
    assert "secret" not in message


# endregion
# region the homeserver


def test_homeserver_unreachable(tmp_path: Path) -> None:
    port = free_port()
    write_config(
        tmp_path / "config.yaml",
        **{
            "homeserver.address": f"http://127.0.0.1:{port}",
            "appservice.port": free_port(),
        },
    )
    original = (tmp_path / "config.yaml").read_bytes()
    run = run_bridge(tmp_path, "--wait-for-homeserver", "2")
    assert_error(
        run,
        16,
        f"Cannot connect to the homeserver at http://127.0.0.1:{port} (homeserver.address)",
        "connection refused",
        "Gave up after 2 s",
        max_lines=1,
    )
    assert any("retrying for up to" in w for w in run.warnings()), run.out
    assert (tmp_path / "config.yaml").read_bytes() == original


def test_wrong_scheme(tmp_path: Path, homeserver: Homeserver) -> None:
    port = homeserver.synapse.port
    write_config(
        tmp_path / "config.yaml",
        **{
            "homeserver.address": f"https://127.0.0.1:{port}",
            "appservice.port": free_port(),
        },
    )
    assert_error(
        run_bridge(tmp_path),
        16,
        f"https://127.0.0.1:{port} (homeserver.address)",
        f"use http://127.0.0.1:{port} instead",
        max_lines=1,
    )


def test_not_a_matrix_homeserver(tmp_path: Path) -> None:
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<h1>nothing here</h1>")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        write_config(
            tmp_path / "config.yaml",
            **{
                "homeserver.address": url,
                "appservice.port": free_port(),
            },
        )
        assert_error(
            run_bridge(tmp_path),
            16,
            f"{url} (homeserver.address) is not a Matrix homeserver",
            "HTTP 404",
            max_lines=1,
        )
    finally:
        server.shutdown()


class _TLSServer:
    """An HTTPS server with a self-signed certificate (the cryptography package makes it)."""

    def __init__(self, tmp_path: Path) -> None:
        import datetime
        import ssl

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

        class Versions(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"versions": ["v1.11"]}')

            def log_message(self, *args: Any) -> None:
                pass

        class Quiet(HTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the plain-HTTP client's failed handshake

        self.server = Quiet(("127.0.0.1", 0), Versions)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.mark.parametrize(
    ("scheme", "phrases"),
    [
        ("http", ["closed the connection without answering", "use https://127.0.0.1:{port}"]),
        ("https", ["TLS certificate is not trusted", "homeserver.verify_ssl: false"]),
    ],
)
def test_https_homeserver_mistakes(tmp_path: Path, scheme: str, phrases: list[str]) -> None:
    server = _TLSServer(tmp_path)
    try:
        url = f"{scheme}://127.0.0.1:{server.port}"
        write_config(
            tmp_path / "config.yaml",
            **{"homeserver.address": url, "appservice.port": free_port()},
        )
        assert_error(
            run_bridge(tmp_path),
            16,
            f"{url} (homeserver.address)",
            *(p.format(port=server.port) for p in phrases),
            max_lines=1,
        )
    finally:
        server.close()


def test_registration_not_installed(tmp_path: Path, homeserver: Homeserver) -> None:
    listening_config(tmp_path, homeserver.synapse.url, free_port())
    registration = generate(tmp_path)  # but not given to the homeserver
    message = assert_error(
        run_bridge(tmp_path),
        17,
        "M_UNKNOWN_TOKEN",
        f"Add {registration} to app_service_config_files",
        "restart the homeserver",
        max_lines=1,
    )
    assert "Traceback" not in message


def test_homeserver_cannot_reach_the_bridge(homeserver: Homeserver) -> None:
    message = assert_error(
        run_bridge(homeserver.dead),
        19,
        "The homeserver cannot reach the bridge at http://127.0.0.1:",
        "(appservice.address",
        f"The bridge listens on 127.0.0.1:{homeserver.dead_port}",
        max_lines=2,
    )
    assert "Connection refused" in message or "connection" in message.lower()


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(
            tmp_path / "config.yaml",
            **{
                "appservice.port": port,
            },
        )
        assert_error(
            run_bridge(tmp_path),
            20,
            f"Cannot listen on 127.0.0.1:{port} (appservice.hostname and appservice.port)",
            "Is the bridge already running?",
            max_lines=1,
        )


# endregion
# region running, Ctrl-C and the ping flake


async def _start(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    # -X faulthandler: a process that does not exit is made to print every thread's stack
    # (SIGABRT in _finish); unbuffered, so what it printed before is not lost with it
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "faulthandler",
        "-m",
        "bridge",
        *args,
        cwd=cwd,
        env={**bridge_env(), "PYTHONUNBUFFERED": "1"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _wait_ready(proc: asyncio.subprocess.Process, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (
        await asyncio.to_thread(http_status, f"http://127.0.0.1:{port}/_matrix/mau/ready") != 200
    ):
        assert proc.returncode is None, "the bridge exited"
        assert time.monotonic() < deadline, "the bridge was not ready in time"
        await asyncio.sleep(0.1)


async def _finish(proc: asyncio.subprocess.Process, what: str = "the signal") -> Run:
    # read all along (a cancelled communicate() would drop what it had read so far)
    assert proc.stdout is not None
    stdout, out = proc.stdout, bytearray()

    async def read() -> None:
        while chunk := await stdout.read(65536):
            out.extend(chunk)

    reading = asyncio.ensure_future(read())
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:  # say where it was: its output and every thread's stack, then stop it
        proc.send_signal(signal.SIGABRT)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await reading
        raise AssertionError(
            f"the bridge had not exited 60 s after {what}; its output and stacks:\n"
            + ANSI.sub("", out.decode(errors="replace"))[-12000:]
        ) from None
    await reading
    assert proc.returncode is not None
    return Run(proc.returncode, ANSI.sub("", out.decode(errors="replace")))


async def test_ctrl_c_while_running_stops_cleanly_and_the_update_is_saved(
    homeserver: Homeserver,
) -> None:
    config = homeserver.good / "config.yaml"
    # as if the key had never been generated (-g generated it): the start must save a new one
    before = re.sub(r"credential_key: .*", 'credential_key: ""', config.read_text())
    config.write_text(before)
    proc = await _start(homeserver.good)
    await _wait_ready(proc, homeserver.good_port)
    proc.send_signal(signal.SIGINT)
    run = await _finish(proc)
    assert run.code == 0 and "Traceback" not in run.out, run.out
    # the terminal shows INFO and above by default
    assert "[INFO@mau.init] The bridge is running" in run.out
    assert "[DEBUG@" not in run.out and "aiohttp.access" not in run.out, run.out
    # the start succeeded: the generated credential key was written, nothing else changed
    after = config.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert [a.strip() for a, _ in changed] == ['credential_key: ""'], changed
    assert load_yaml(config)["bridge"]["credential_key"]


async def test_ctrl_c_at_any_point_of_the_start(homeserver: Homeserver) -> None:
    """SIGINT at random moments of the start (module loading, config, database, homeserver,
    running): never a traceback, exit 130 before the bridge ran and 0 after."""
    rng = random.Random(20)
    delays = [0.4, 0.9] + [rng.uniform(0.3, 3.0) for _ in range(4)]
    for delay in delays:
        proc = await _start(homeserver.good)
        await asyncio.sleep(delay)
        proc.send_signal(signal.SIGINT)
        run = await _finish(proc, f"a SIGINT {delay:.2f} s into the start")
        assert "Traceback" not in run.out, f"SIGINT after {delay:.2f} s:\n{run.out}"
        assert run.code in (0, 130), f"SIGINT after {delay:.2f} s:\n{run.out}"
        if run.code == 130:
            assert run.critical == ["Interrupted before the bridge started."], run.out


async def test_ctrl_c_while_waiting_for_the_homeserver(tmp_path: Path) -> None:
    write_config(
        tmp_path / "config.yaml",
        **{
            "homeserver.address": f"http://127.0.0.1:{free_port()}",
            "appservice.port": free_port(),
        },
    )
    proc = await _start(tmp_path)
    assert proc.stdout is not None
    seen = b""
    while b"retrying for up to" not in seen:
        chunk = await asyncio.wait_for(proc.stdout.read(4096), 60)
        assert chunk, seen.decode()
        seen += chunk
    proc.send_signal(signal.SIGINT)
    run = await _finish(proc)
    run = Run(run.code, ANSI.sub("", seen.decode()) + run.out)
    assert_error(run, 130, "Interrupted before the bridge started.", max_lines=1)


class PingFlake:
    """A proxy in front of Synapse that answers the first appservice ping with Synapse's
    spurious 502 (AlreadyCalledError) after Synapse delivered it to the bridge."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.flaked = 0
        self.pings = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with (
            ClientSession() as session,
            session.request(
                request.method, self.upstream + request.rel_url.path_qs, data=body, headers=headers
            ) as response,
        ):
            data = await response.read()
            status = response.status
            content_type = response.headers.get("Content-Type", "application/json")
        if request.path.endswith("/ping"):
            self.pings += 1
            if status == 200 and not self.flaked:
                self.flaked += 1
                return web.json_response(
                    {"errcode": "M_CONNECTION_FAILED", "error": "AlreadyCalledError: "}, status=502
                )
        return web.Response(body=data, status=status, headers={"Content-Type": content_type})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_ping_reported_failed_although_it_arrived_is_retried(homeserver: Homeserver) -> None:
    flake = PingFlake(homeserver.synapse.url)
    url = await flake.start()
    config = homeserver.good / "config.yaml"
    original = config.read_text()
    yaml = YAML()
    data = yaml.load(original)
    data["homeserver"]["address"] = url
    with open(config, "w") as stream:
        yaml.dump(data, stream)
    try:
        proc = await _start(homeserver.good)
        await _wait_ready(proc, homeserver.good_port)
        proc.send_signal(signal.SIGINT)
        run = await _finish(proc)
    finally:
        config.write_text(original)
        await flake.stop()
    assert flake.flaked == 1 and flake.pings >= 2
    assert run.code == 0 and "Traceback" not in run.out, run.out
    retry = [w for w in run.warnings() if "ping as failed although it arrived" in w]
    assert len(retry) == 1 and "AlreadyCalledError" in retry[0], run.out


# endregion

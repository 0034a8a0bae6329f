"""How the MSN test server copes with many accounts: a login storm of N raw MSNP12 clients.

Run with ``python bench/msn_server_scale.py [--counts 1000,5000,10000] [--concurrency 200]
[--baseline-rev REV] [--baseline-max N] [--no-floor]``.

For each count N it starts, each in its own process, three servers in turn, every one with N
accounts of 20 mutual contacts in 2 groups (``--contacts``/``--groups``):

* **after**: ``tests/msn_server`` as checked out, seeded with ``--seed N``;
* **before**: the same server at git revision ``--baseline-rev`` (default: the last commit
  before the presence index), extracted with ``git archive`` and fed the same accounts through
  an accounts file; skipped above ``--baseline-max`` accounts;
* **floor**: a stateless asyncio server (DS, NS and Passport on aiohttp like the real one)
  answering the same login exchange with canned lines and no presence at all: the cost of
  the sockets, the framing and the HTTP round trip alone.

Then it logs the N accounts in with raw sockets, ``--concurrency`` at a time, the way a client
does: DS (``VER``/``CVR``/``USR TWN I`` -> ``XFR``), NS (``VER``/``CVR``/``USR TWN I``, the
Passport ``GET /login``, ``USR TWN S``), ``SYN`` (reading every ``LST``), ``CHG NLN``; every
account stays connected and keeps reading what the server pushes (ILN/NLN of its contacts).
It prints per server and count: wall time and logins per second, login time p50/p99, server
CPU per login (from /proc, the server process only), server RSS per account, and for the
current server its own counters (``GET /_test/stats``: logins in progress at most, which must
not exceed ``--concurrency``; its logins/s). The presence fan-out of the "before" server scans
every online session on each status change, so its CPU per login grows with N.
"""

from __future__ import annotations

from typing import Any
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from tests.msn_server.seed import SeedSpec

REPO = Path(__file__).resolve().parent.parent
#: the last commit before the reverse presence index (issue 11)
DEFAULT_BASELINE = "198777f"
PAYLOAD_COMMANDS = frozenset({"MSG", "UBX", "GCF", "NOT", "IPG"})
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the load client ---------------------------------------------------------------------------
class Lines:
    """A raw MSNP client stream: send a command, read lines (and their payloads)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.trid = reader, writer, 0

    @classmethod
    async def open(cls, address: str) -> Lines:
        host, port = address.rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    def send(self, *parts: str) -> int:
        self.trid += 1
        self.writer.write((" ".join([parts[0], str(self.trid), *parts[1:]]) + "\r\n").encode())
        return self.trid

    async def read(self) -> list[str]:
        raw = await self.reader.readline()
        if not raw:
            raise EOFError("closed by the server")
        tokens = raw.decode("utf-8", "replace").rstrip("\r\n").split(" ")
        if tokens[0] in PAYLOAD_COMMANDS and len(tokens) > 2 and tokens[-1].isdigit():
            await self.reader.readexactly(int(tokens[-1]))
        return tokens

    async def until(self, name: str, trid: int | None = None) -> list[str]:
        while True:
            tokens = await self.read()
            if tokens[0] == name and (trid is None or tokens[1:2] == [str(trid)]):
                return tokens
            if tokens[0].isdigit():
                raise RuntimeError(f"server error {' '.join(tokens)}")

    def close(self) -> None:
        self.writer.close()


async def passport(session: aiohttp.ClientSession, url: str, email: str, pw: str) -> str:
    header = (
        "Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,"
        f"sign-in={quote(email)},pwd={quote(pw)},ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1"
    )
    async with session.get(url, headers={"Authorization": header}) as resp:
        info = resp.headers.get("Authentication-Info", "")
        await resp.read()
    if "from-PP='" not in info:
        raise RuntimeError(f"passport refused {email}: HTTP {resp.status}")
    return info.split("from-PP='", 1)[1].split("'", 1)[0]


CVR = ("0x0409", "winnt", "5.1", "i386", "MSNMSGR", "7.5.0324", "msmsgs")


async def log_in(
    ds: str, login_url: str, session: aiohttp.ClientSession, email: str, pw: str
) -> Lines:
    """One complete login; returns the NS stream, signed in and NLN."""
    c = await Lines.open(ds)
    c.send("VER", "MSNP12", "CVR0")
    await c.until("VER")
    c.send("CVR", *CVR, email)
    await c.until("CVR")
    c.send("USR", "TWN", "I", email)
    ns = (await c.until("XFR"))[3]
    c.close()
    c = await Lines.open(ns)
    c.send("VER", "MSNP12", "CVR0")
    await c.until("VER")
    c.send("CVR", *CVR, email)
    await c.until("CVR")
    c.send("USR", "TWN", "I", email)
    await c.until("USR")
    ticket = await passport(session, login_url, email, pw)
    ok = c.send("USR", "TWN", "S", ticket)
    await c.until("USR", ok)
    await c.until("MSG")
    syn = c.send("SYN", "0", "0")
    header = await c.until("SYN", syn)
    remaining = int(header[4]) if len(header) > 4 else 0
    while remaining:
        if (await c.read())[0] == "LST":
            remaining -= 1
    chg = c.send("CHG", "NLN", "1073741824")
    await c.until("CHG", chg)
    return c


async def drain_forever(c: Lines) -> None:
    try:
        while await c.reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass


# -- servers -----------------------------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Server:
    label: str
    proc: asyncio.subprocess.Process
    addresses: dict[str, str]

    @property
    def ds(self) -> str:
        """Where clients connect first: the dispatch server, or the notification server when
        there is none (``--escargot``: Escargot answers on one port)."""
        ds = self.addresses["dispatch server"]
        return ds if ds != "(none)" else self.addresses["notification server"]

    @property
    def login_url(self) -> str:
        return self.addresses["passport login"]

    @property
    def stats_url(self) -> str | None:
        return self.addresses.get("stats")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_server(label: str, argv: list[str], cwd: Path) -> Server:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, limit=1 << 24,
        preexec_fn=raise_fd_limit,
    )  # fmt: skip
    assert proc.stdout is not None
    addresses: dict[str, str] = {}
    while "accounts" not in addresses:
        line = (await asyncio.wait_for(proc.stdout.readline(), 600)).decode()
        if not line:
            raise RuntimeError(f"{label}: the server exited early")
        key, _, value = line.partition(":")
        addresses[key.strip()] = value.strip()
    asyncio.get_running_loop().create_task(proc.stdout.read())  # keep the pipe drained
    return Server(label, proc, addresses)


def server_argv(seed_flags: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "tests.msn_server", "--ns-port", "0", "--sb-port", "0",
        "--http-port", "0", *seed_flags,
    ]  # fmt: skip


def accounts_file(spec: SeedSpec, path: Path) -> None:
    """The accounts of ``spec`` as an accounts file (for a server without ``--seed``)."""
    offsets = spec.offsets()
    groups = [f"Group {g + 1}" for g in range(spec.groups)]
    items = []
    for i in range(spec.count):
        contacts = []
        for position, offset in enumerate(offsets):
            other = spec.email((i + offset) % spec.count)
            contacts.append(
                {"email": other, "groups": [groups[position % len(groups)]] if groups else []}
            )
        items.append(
            {"email": spec.email(i), "password": spec.password, "name": f"User {i}",
             "groups": groups, "contacts": contacts}
        )  # fmt: skip
    path.write_text(json.dumps(items))


def baseline_tree(rev: str, into: Path) -> Path:
    """``tests/msn_server`` at ``rev``, extracted into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "tests/__init__.py", "tests/msn_server"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# -- the floor server --------------------------------------------------------------------------
async def floor_server() -> None:
    """Canned answers to the login exchange: no accounts, no state, no presence."""
    from aiohttp import web

    lst = [f"LST N=c{i}@scale.example F=c{i} C={i:08d}-0000-0000-0000-000000000000 11 1\r\n"
           for i in range(20)]  # fmt: skip
    profile = b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\n\r\n"
    ns_address = ""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ds: bool) -> None:
        while line := await reader.readline():
            t = line.decode().split()
            name, trid = t[0], t[1] if len(t) > 1 else "0"
            if name == "VER":
                out = f"VER {trid} MSNP12 CVR0\r\n"
            elif name == "CVR":
                out = f"CVR {trid} 7.5 7.5 7.0 http://x http://x\r\n"
            elif name == "USR" and ds:
                writer.write(f"XFR {trid} NS {ns_address} 0 x\r\n".encode())
                break
            elif name == "USR" and t[3] == "I":
                out = f"USR {trid} TWN S ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1\r\n"
            elif name == "USR":
                out = f"USR {trid} OK x@x 1 0\r\nSBS 0 null\r\n"
                out += f"MSG Hotmail Hotmail {len(profile)}\r\n" + profile.decode()
            elif name == "SYN":
                out = (
                    f"SYN {trid} 2006-01-01T00:00:00.0-00:00 2006-01-01T00:00:00.0-00:00 20 2\r\n"
                )
                out += "GTC A\r\nBLP AL\r\nPRP MFN x\r\nLSG a 1\r\nLSG b 2\r\n" + "".join(lst)
            elif name == "CHG":
                out = f"CHG {trid} {t[2]} {t[3] if len(t) > 3 else ''}\r\n"
            else:
                out = f"{trid}\r\n"
            writer.write(out.encode())
        writer.close()

    async def login(request: web.Request) -> web.Response:
        return web.Response(
            headers={"Authentication-Info": "Passport1.4 da-status=success,from-PP='t=x&p=y'"}
        )

    ns = await asyncio.start_server(lambda r, w: handle(r, w, False), "127.0.0.1", 0)
    ds = await asyncio.start_server(lambda r, w: handle(r, w, True), "127.0.0.1", 0)
    ns_address = f"127.0.0.1:{ns.sockets[0].getsockname()[1]}"
    app = web.Application()
    app.router.add_get("/login", login)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    http = runner.addresses[0][1]
    print(f"dispatch server: 127.0.0.1:{ds.sockets[0].getsockname()[1]}")
    print(f"notification server: {ns_address}")
    print(f"passport login: http://127.0.0.1:{http}/login")
    print("accounts: (any)", flush=True)
    await asyncio.Event().wait()


# -- one run -----------------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    count: int
    wall: float
    login_p50: float
    login_p99: float
    server_cpu: float
    rss_kib_per_account: float
    rss_mib: float
    stats: dict[str, Any] | None

    @property
    def cpu_ms_per_login(self) -> float:
        return self.server_cpu * 1000 / self.count


async def run_one(server: Server, spec: SeedSpec, concurrency: int) -> Result:
    pid = server.proc.pid
    await asyncio.sleep(0.5)  # let start-up garbage settle before the baseline samples
    rss_before = proc_rss_kib(pid)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        if server.stats_url:
            async with session.post(server.stats_url + "/reset") as resp:
                await resp.read()
        cpu_before = proc_cpu(pid)
        sem = asyncio.Semaphore(concurrency)
        durations: list[float] = []
        clients: list[Lines] = []
        drains: list[asyncio.Task[None]] = []

        async def one(i: int) -> None:
            async with sem:
                t0 = time.perf_counter()
                c = await log_in(
                    server.ds, server.login_url, session, spec.email(i), spec.password
                )
                durations.append(time.perf_counter() - t0)
            clients.append(c)
            drains.append(asyncio.create_task(drain_forever(c)))

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(spec.count)))
        wall = time.perf_counter() - start
        await settle(pid)
        server_cpu = proc_cpu(pid) - cpu_before
        rss = proc_rss_kib(pid) - rss_before
        rss_after = proc_rss_kib(pid)
        stats = None
        if server.stats_url:
            async with session.get(server.stats_url) as resp:
                stats = await resp.json()
        for c in clients:
            c.close()
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
    durations.sort()
    return Result(
        server.label, spec.count, wall, durations[len(durations) // 2],
        durations[min(len(durations) - 1, int(len(durations) * 0.99))], server_cpu,
        rss / spec.count, rss_after / 1024, stats,
    )  # fmt: skip


async def settle(pid: int) -> None:
    """Wait until the server has finished the fan-out of the last logins (CPU stops rising)."""
    last = proc_cpu(pid)
    for _ in range(50):
        await asyncio.sleep(0.2)
        now = proc_cpu(pid)
        if now - last < 0.02:
            return
        last = now


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def bench(args: argparse.Namespace) -> list[Result]:
    raise_fd_limit()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="msn-scale-") as tmp:
        tmpdir = Path(tmp)
        old_tree = None
        if args.baseline_rev != "none":
            old_tree = baseline_tree(args.baseline_rev, tmpdir / "before")
        for count in args.counts:
            spec = SeedSpec(count, args.contacts, args.groups)
            variants: list[tuple[str, list[str], Path]] = []
            if not args.no_floor:
                floor = [sys.executable, str(Path(__file__).resolve()), "--floor-server"]
                variants.append(("floor", floor, REPO))
            if old_tree is not None and count <= args.baseline_max:
                path = tmpdir / f"accounts-{count}.json"
                accounts_file(spec, path)
                before = server_argv(["--accounts", str(path)])
                variants.append((f"before ({args.baseline_rev})", before, old_tree))
            seed = ["--seed", str(count), "--seed-contacts", str(args.contacts),
                    "--seed-groups", str(args.groups)]  # fmt: skip
            variants.append(("after", server_argv(seed), REPO))
            for label, argv, cwd in variants:
                server = await start_server(label, argv, cwd)
                try:
                    result = await run_one(server, spec, args.concurrency)
                finally:
                    await server.stop()
                results.append(result)
                print_result(result, args.concurrency)
    return results


def print_result(r: Result, concurrency: int) -> None:
    line = (
        f"{r.count:>6} {r.label:<18} {r.wall:7.2f} s {r.count / r.wall:8.0f} logins/s  "
        f"login p50 {r.login_p50 * 1000:7.1f} ms p99 {r.login_p99 * 1000:7.1f} ms  "
        f"server CPU {r.cpu_ms_per_login:6.3f} ms/login  "
        f"RSS +{r.rss_kib_per_account:5.1f} KiB/acct ({r.rss_mib:.0f} MiB)"
    )
    if r.stats is not None:
        ok = "ok" if r.stats["logins_in_progress_max"] <= concurrency else "EXCEEDED"
        line += (
            f"  [server: {r.stats['logins']} logins, in progress max "
            f"{r.stats['logins_in_progress_max']} <= {concurrency} {ok}, "
            f"{r.stats['logins_per_second']} logins/s]"
        )
    print(line, flush=True)


def summary(results: list[Result]) -> None:
    print("\nserver CPU per login, after / before and after / floor:")
    for count in sorted({r.count for r in results}):
        row = {r.label.split(" ")[0]: r for r in results if r.count == count}
        after = row.get("after")
        if after is None:
            continue
        parts = [f"{count:>6}: after {after.cpu_ms_per_login:.3f} ms"]
        for other in ("before", "floor"):
            if other in row and row[other].cpu_ms_per_login > 0:
                ratio = after.cpu_ms_per_login / row[other].cpu_ms_per_login
                parts.append(f"{other} {row[other].cpu_ms_per_login:.3f} ms (x{ratio:.2f})")
        print("  ".join(parts))
    afters = [r.cpu_ms_per_login for r in results if r.label == "after"]
    if len(afters) > 1:
        print(
            f"after: CPU per login spread {min(afters):.3f}..{max(afters):.3f} ms "
            f"(max/min {max(afters) / min(afters):.2f}; flat means close to 1)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,5000,10000",
                        type=lambda s: [int(x) for x in s.split(",")])  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument(
        "--baseline-rev",
        default=DEFAULT_BASELINE,
        help="git revision of the 'before' server ('none': skip it)",
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=10_000,
        help="skip the 'before' server above this many accounts",
    )
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--floor-server", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.floor_server:
        asyncio.run(floor_server())
        return 0
    print(
        f"MSN test server, login storm: {args.contacts} contacts and {args.groups} groups per "
        f"account, {args.concurrency} logins at a time, MSNP12 through the DS, all stay online"
    )
    results = asyncio.run(bench(args))
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

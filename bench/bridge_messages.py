"""End-to-end message throughput and latency through the real stack (MSN server, bridge, Synapse).

Run with ``python bench/bridge_messages.py [--db sqlite|postgres] [-n 200] [--rate 0]``. It
starts our MSN test server (in this process), PostgreSQL when asked (tests/pg.py), Synapse and
the bridge as its own process (tests/e2e/harness.py), logs a Matrix user in through the bot and
measures, for ``N`` text messages:

* MSN -> Matrix: an MSN contact (a real MSNClient) sends N messages to the bridged user; the
  latency of a message runs from the start of ``send_text`` to the moment the Matrix user's
  ``/sync`` delivered it; throughput is N over first send -> last arrival.
* Matrix -> MSN: the Matrix user sends N messages in the DM room (one ``PUT /send`` after the
  other); latency runs to the moment the contact's MSN client received the message, and
  separately to the moment the bridge's ``SUCCESS`` message-status event reached ``/sync``.
* baseline, in the same run: the same N messages from one MSNClient to another directly
  through the MSN test server (no bridge, no Synapse). The ratios show the bridge + homeserver
  overhead.
* a second baseline: the Matrix user sends the N messages into a room the bridge is not in
  (Synapse alone), which shows how much of the Matrix -> MSN time is the homeserver's.

Messages are sent back to back (``--rate 0``, a burst: latency then includes queueing) or paced
at ``--rate`` messages per second. Every path checks that all messages arrived, in order.

``--profile DIR`` samples the bridge process with py-spy (PyPI ``py-spy``) during each bridged
phase and prints where its CPU went, by function and by source file (raw stacks in ``DIR``).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable
from pathlib import Path
import argparse
import asyncio
import secrets
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._probe import PySpy
from bench._stack import (
    BenchStack,
    Summary,
    TimedPeer,
    bench_stack,
    cpu_seconds,
    login_via_bot,
    record_arrivals,
    summary,
)
from bridge.msnp.events import TextMessageReceived
from tests.support.synapse import MatrixTestClient

STATUS_TYPE = "com.beeper.message_send_status"
SYNAPSE_ONLY = "baseline: Matrix -> Matrix (Synapse only)"


class Result:
    def __init__(self, label: str, stats: Summary, in_order: bool, missing: int) -> None:
        self.label = label
        self.stats = stats
        self.in_order = in_order
        self.missing = missing
        self.cpu_ms: dict[str, float] = {}  # process -> CPU ms per message during the phase


#: ``--profile DIR``: py-spy samples of the bridge per measured phase go there
PROFILE_DIR: Path | None = None


class CPUMeter:
    """CPU time the bridge and Synapse processes spend during a phase, per message; with
    ``--profile``, also py-spy samples of the bridge during the phase (``phase`` names it)."""

    def __init__(self, stack: BenchStack, phase: str | None = None) -> None:
        self.pids = {
            "bridge": stack.bridge.proc.pid if stack.bridge.proc else None,
            "synapse": stack.synapse._proc.pid if stack.synapse._proc else None,
        }
        self.spy: PySpy | None = None
        bridge = self.pids["bridge"]
        if PROFILE_DIR is not None and phase and bridge:
            self.spy = PySpy(bridge, PROFILE_DIR / f"{phase}.txt")
            self.spy.start()
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def per_message(self, n: int) -> dict[str, float]:
        used = {
            name: (cpu_seconds(pid) - self.start[name]) * 1000 / n
            for name, pid in self.pids.items()
        }
        if self.spy is not None:
            self.spy.stop()
            print(f"bridge CPU profile, {self.spy.output.stem}:\n{self.spy.summary()}")
            self.spy = None
        return used


async def send_all(
    texts: list[str], send: Callable[[str], Awaitable[Any]], rate: float
) -> tuple[list[float], list[Any]]:
    """Send ``texts`` one after the other; returns the monotonic start time of each send."""
    starts: list[float] = []
    results: list[Any] = []
    t0 = time.monotonic()
    for i, text in enumerate(texts):
        if rate > 0:
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        starts.append(time.monotonic())
        results.append(await send(text))
    return starts, results


async def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


def peer_arrivals(peer: TimedPeer, sender: str, prefix: str) -> list[tuple[str, float]]:
    """(text, time) of each TextMessageReceived from ``sender`` whose text starts with
    ``prefix``, in arrival order."""
    out = []
    for evt, when in zip(peer.events, peer.times, strict=True):
        if (
            isinstance(evt, TextMessageReceived)
            and evt.sender.lower() == sender.lower()
            and evt.text.startswith(prefix)
        ):
            out.append((evt.text, when))
    return out


def evaluate(
    label: str,
    texts: list[str],
    starts: list[float],
    arrived: list[tuple[str, float]],
) -> Result:
    """Latencies by text, order check, throughput from the first send to the last arrival."""
    first = {}
    for text, when in arrived:
        first.setdefault(text, when)
    latencies = [first[t] - s for t, s in zip(texts, starts, strict=True) if t in first]
    missing = len(texts) - len(latencies)
    order = [t for t, _ in arrived if t in first]
    in_order = order == [t for t in texts if t in first] and len(order) == len(first)
    end = max(first.values()) if first else starts[-1]
    return Result(label, summary(latencies, end - starts[0]), in_order, missing)


async def baseline(stack: BenchStack, n: int, rate: float, timeout: float) -> Result:
    carol_mail, dave_mail = (
        stack.unique("carol") + "@example.com",
        stack.unique("dave") + "@example.com",
    )
    stack.msn.add_account(carol_mail, "carolpw", "Carol")
    stack.msn.add_account(dave_mail, "davepw", "Dave")
    stack.msn.make_mutual(carol_mail, dave_mail)
    carol = TimedPeer(stack.client_config(), carol_mail, "carolpw")
    dave = TimedPeer(stack.client_config(), dave_mail, "davepw")
    try:
        await carol.login()
        await dave.login()
        # warm-up: open the switchboard, as in the bridged runs
        await carol.client.send_text(dave_mail, "warm-up")
        await dave.wait_for_type(TextMessageReceived, lambda e: e.text == "warm-up")
        prefix = f"base {secrets.token_hex(3)} "
        texts = [f"{prefix}{i:05d}" for i in range(n)]
        starts, _ = await send_all(texts, lambda t: carol.client.send_text(dave_mail, t), rate)
        await wait_until(lambda: len(peer_arrivals(dave, carol_mail, prefix)) >= n, timeout)
        return evaluate(
            "baseline: MSN client -> MSN client",
            texts,
            starts,
            peer_arrivals(dave, carol_mail, prefix),
        )
    finally:
        await carol.close()
        await dave.close()


def room_messages(
    user: MatrixTestClient, arrivals: dict[str, float], room: str, sender: str, prefix: str
) -> list[tuple[str, float]]:
    out = []
    for evt in user.timeline.get(room, []):
        body = evt.get("content", {}).get("body")
        if (
            evt.get("type") == "m.room.message"
            and evt.get("sender") == sender
            and isinstance(body, str)
            and body.startswith(prefix)
        ):
            out.append((body, arrivals.get(evt["event_id"], float("inf"))))
    return out


def statuses(
    user: MatrixTestClient, arrivals: dict[str, float], room: str, wanted: set[str]
) -> dict[str, tuple[str, float]]:
    """event ID -> (status, arrival) of the first send-status event for each wanted event."""
    out: dict[str, tuple[str, float]] = {}
    for evt in user.timeline.get(room, []):
        if evt.get("type") != STATUS_TYPE:
            continue
        content = evt.get("content", {})
        target = content.get("m.relates_to", {}).get("event_id")
        if target in wanted and target not in out:
            out[target] = (content.get("status", "?"), arrivals.get(evt["event_id"], 0.0))
    return out


async def bridged(stack: BenchStack, n: int, rate: float, timeout: float) -> list[Result]:
    pair = stack.new_pair()
    bob = TimedPeer(stack.client_config(), pair.contact, pair.contact_password)
    await bob.login()
    try:
        user = await stack.matrix_user(pair.localpart)
        arrivals = record_arrivals(user)
        await login_via_bot(stack, user, pair.passport, pair.password)
        ghost = pair.contact_ghost

        # Warm-up (not measured): the first message creates the portal room; answer once too.
        await bob.client.send_text(pair.passport, "warm-up")
        room = await user.wait_for_invite(sender=ghost, timeout=30)
        await user.join(room)
        await user.wait_for_message(room, "warm-up", sender=ghost, timeout=30)
        warm = await user.send_text(room, "warm-up reply")
        await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "warm-up reply")
        await user.wait_for_send_status(room, warm, timeout=30)

        # (a) MSN -> Matrix
        prefix = f"m2x {secrets.token_hex(3)} "
        texts = [f"{prefix}{i:05d}" for i in range(n)]
        cpu = CPUMeter(stack, "msn-to-matrix")
        starts, _ = await send_all(texts, lambda t: bob.client.send_text(pair.passport, t), rate)
        await wait_until(
            lambda: len(room_messages(user, arrivals, room, ghost, prefix)) >= n, timeout
        )
        results = [
            evaluate(
                "MSN -> Matrix (arrival in /sync)",
                texts,
                starts,
                room_messages(user, arrivals, room, ghost, prefix),
            )
        ]
        results[-1].cpu_ms = cpu.per_message(n)

        # Synapse alone: the same sends into a room the bridge is not in.
        plain = await user.api.create_room()
        await user.wait_for(lambda: plain in user.timeline, 10, "the plain room")
        prefix = f"mx {secrets.token_hex(3)} "
        texts = [f"{prefix}{i:05d}" for i in range(n)]
        cpu = CPUMeter(stack)
        starts, _ = await send_all(texts, lambda t: user.send_text(plain, t), rate)
        await wait_until(
            lambda: len(room_messages(user, arrivals, plain, user.mxid, prefix)) >= n, timeout
        )
        results.append(
            evaluate(
                SYNAPSE_ONLY,
                texts,
                starts,
                room_messages(user, arrivals, plain, user.mxid, prefix),
            )
        )
        results[-1].cpu_ms = cpu.per_message(n)

        # (b) Matrix -> MSN
        prefix = f"x2m {secrets.token_hex(3)} "
        texts = [f"{prefix}{i:05d}" for i in range(n)]
        cpu = CPUMeter(stack, "matrix-to-msn")
        starts, event_ids = await send_all(texts, lambda t: user.send_text(room, t), rate)
        wanted = set(event_ids)
        await wait_until(
            lambda: len(peer_arrivals(bob, pair.passport, prefix)) >= n
            and len(statuses(user, arrivals, room, wanted)) >= n,
            timeout,
        )
        results.append(
            evaluate(
                "Matrix -> MSN (arrival at MSN client)",
                texts,
                starts,
                peer_arrivals(bob, pair.passport, prefix),
            )
        )
        got = statuses(user, arrivals, room, wanted)
        ok = {e: when for e, (status, when) in got.items() if status == "SUCCESS"}
        by_event = dict(zip(event_ids, texts, strict=True))
        status_arrivals = sorted(
            ((by_event[e], when) for e, when in ok.items()), key=lambda item: item[1]
        )
        res = evaluate("Matrix -> MSN SUCCESS status in /sync", texts, starts, status_arrivals)
        res.cpu_ms = results[-1].cpu_ms = cpu.per_message(n)
        res.in_order = True  # status events are not ordered by contract; count them only
        failed = {e: s for e, (s, _) in got.items() if s != "SUCCESS"}
        if failed:
            print(f"!! {len(failed)} send-status events were not SUCCESS: {set(failed.values())}")
        results.append(res)
        return results
    finally:
        await bob.close()


def print_table(args: argparse.Namespace, base: Result, results: list[Result]) -> None:
    mode = "burst (back to back)" if args.rate <= 0 else f"paced at {args.rate:g} msg/s"
    print()
    print(
        f"matrix-msn message benchmark: N={args.n}, bridge db={args.db}, {mode}, "
        f"bridge log level {args.log_level}"
    )
    head = (
        f"{'path':40} {'got':>5} {'total s':>8} {'msg/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'order':>6} {'msg/s vs base':>14} {'p50 vs base':>12} {'CPU ms/msg bridge/HS':>21}"
    )
    print(head)
    print("-" * len(head))
    for res in [base, *results]:
        s = res.stats
        if res is base:
            ratio_rate = ratio_p50 = "1.00x"
        else:
            ratio_rate = f"{s.rate / base.stats.rate:.3f}x" if base.stats.rate else "-"
            ratio_p50 = f"{s.p50_ms / base.stats.p50_ms:.1f}x" if base.stats.p50_ms else "-"
        order = "ok" if res.in_order else "NO"
        cpu = f"{res.cpu_ms['bridge']:.1f} / {res.cpu_ms['synapse']:.1f}" if res.cpu_ms else "-"
        print(
            f"{res.label:40} {s.count:5d} {s.seconds:8.3f} {s.rate:8.1f} {s.p50_ms:8.1f} "
            f"{s.p95_ms:8.1f} {s.p99_ms:8.1f} {s.max_ms:8.1f} {order:>6} {ratio_rate:>14} {ratio_p50:>12} {cpu:>21}"
        )
    for res in [base, *results]:
        if res.missing:
            print(f"!! {res.label}: {res.missing} of {args.n} messages did not arrive")
        if not res.in_order:
            print(f"!! {res.label}: messages arrived OUT OF ORDER")
    synapse = next((r for r in results if r.label == SYNAPSE_ONLY), None)
    if synapse is not None and synapse.stats.rate:
        for res in results:
            if res.label.startswith("Matrix -> MSN"):
                print(
                    f"{res.label}: {res.stats.rate / synapse.stats.rate:.2f}x the msg/s and "
                    f"{res.stats.p50_ms / synapse.stats.p50_ms:.1f}x the p50 latency of Synapse "
                    "alone"
                )
    print(
        "(latency: start of the send call -> arrival; total: first send -> last arrival; "
        "'msg/s vs base' < 1 means slower than the direct MSN path)"
    )


async def run(args: argparse.Namespace) -> int:
    async with bench_stack(
        "bench-msgs-", args.db, keep=args.keep, log_level=args.log_level
    ) as stack:
        code = 0
        try:
            async with asyncio.timeout(args.timeout):
                t = time.monotonic()
                await stack.start()
                print(
                    f"stack up in {time.monotonic() - t:.1f} s ({stack.workdir})", file=sys.stderr
                )
                base = await baseline(stack, args.n, args.rate, args.wait)
                results = await bridged(stack, args.n, args.rate, args.wait)
            print_table(args, base, results)
            if any(r.missing or not r.in_order for r in [base, *results]):
                code = 1
            errors = stack.bridge.errors_since(0)
            if errors:
                print(f"!! the bridge logged {len(errors)} errors; first: {errors[0][:500]}")
        except TimeoutError:
            print(f"!! gave up after {args.timeout} s\n{stack.failure_report()}")
            code = 2
        return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("-n", type=int, default=200, help="messages per path (default 200)")
    ap.add_argument("--rate", type=float, default=0.0, help="msg/s to pace at; 0 = burst")
    ap.add_argument("--log-level", default="INFO", help="bridge log level (default INFO)")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for arrivals")
    ap.add_argument("--timeout", type=float, default=600.0, help="overall limit in seconds")
    ap.add_argument("--keep", action="store_true", help="keep the work dir with the logs")
    ap.add_argument(
        "--profile", type=Path, help="sample the bridge with py-spy per phase into this dir"
    )
    args = ap.parse_args()
    if args.profile:
        global PROFILE_DIR
        args.profile.mkdir(parents=True, exist_ok=True)
        PROFILE_DIR = args.profile
    if args.n < 1:
        ap.error("-n must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()

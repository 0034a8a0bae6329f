"""The chaos scenario on the whole stack: messages both ways across several conversations while
the MSN server drops the bridge user's notification and switchboard connections at random and
the bridge process restarts; then every message is accounted for.

Used by ``tests/e2e/test_chaos.py`` (a short run) and ``bench/chaos.py`` (1,000 each way).

How messages are counted, per direction and conversation (each text carries its conversation
and a sequence number):

* **Matrix -> MSN**: the Matrix user sends; the contact's MSN client records what arrives. A
  message is *delivered* if it arrived once, *duplicated* if more than once, *lost* if it never
  arrived although the bridge did not report it failed. A message the bridge reported failed
  (``FAIL_*`` send status) is counted apart: it is the case the bridge cannot decide (the
  connection broke after the message was written, before MSN acknowledged it, and writing it
  again could make it arrive twice), and the user was told; whether it arrived anyway is
  counted too.
* **MSN -> Matrix**: each contact sends with its MSN client and, like a person would, sends a
  message again when its client reports a failure (the bridge user was offline, the
  switchboard closed under it). A message counts as sent once MSN acknowledged it; it is
  *lost* if it never shows up in the Matrix room, *duplicated* if it shows up more than once
  although the contact sent it only once (a contact's own retry after an unclear failure is
  counted apart as ``resent``).
* **order**: per conversation, the sequence numbers that arrived must be increasing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import asyncio
import contextlib
import random
import re
import time

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import MSNPeer, Pair, Stack
from tests.support.synapse import MatrixTestClient

__all__ = ["ChaosPlan", "ChaosResult", "Direction", "describe", "run_chaos"]

_TEXT = re.compile(r"^(m2n|n2m) (\d+) (\d+)$")


@dataclass(frozen=True)
class ChaosPlan:
    messages_each_way: int = 1000
    conversations: int = 4
    ns_drops: int = 8
    sb_drops: int = 8
    bridge_restarts: int = 1
    seed: int = 1
    #: how long to wait for the last messages and statuses after sending ended
    settle_seconds: float = 120.0


@dataclass
class Direction:
    name: str
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    reported_failed: int = 0
    reported_failed_but_arrived: int = 0
    resent: int = 0
    lost_examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.name}: sent {self.sent}, delivered once {self.delivered}, "
            f"lost {self.lost}, duplicated {self.duplicated}, "
            f"out of order {self.out_of_order}, reported failed to the sender "
            f"{self.reported_failed} (of which arrived anyway "
            f"{self.reported_failed_but_arrived}), resent by the sender {self.resent}"
        )


@dataclass
class ChaosResult:
    plan: ChaosPlan
    to_msn: Direction
    to_matrix: Direction
    seconds: float
    faults: list[str]
    reconnects: int

    def lines(self) -> list[str]:
        return [
            f"chaos: {self.plan.messages_each_way} messages each way over "
            f"{self.plan.conversations} conversations in {self.seconds:.1f} s",
            f"faults injected: {', '.join(self.faults) or 'none'}",
            self.to_msn.line(),
            self.to_matrix.line(),
        ]

    @property
    def clean(self) -> bool:
        return all(
            d.lost == 0 and d.duplicated == 0 and d.out_of_order == 0
            for d in (self.to_msn, self.to_matrix)
        )


class _Conversation:
    def __init__(self, index: int, pair: Pair, peer: MSNPeer, room: str) -> None:
        self.index = index
        self.pair = pair
        self.peer = peer
        self.room = room
        self.m2n_events: dict[int, str] = {}  # seq -> Matrix event id
        self.n2m_acked: set[int] = set()
        self.n2m_attempts: dict[int, int] = {}


async def _setup(stack: Stack, plan: ChaosPlan) -> tuple[MatrixTestClient, list[_Conversation]]:
    """The bridge user with one contact per conversation (all on the list before the login),
    each conversation's DM opened by its contact."""
    pairs = [stack.new_pair()]
    for _ in range(1, plan.conversations):
        extra = stack.new_pair()  # its contact becomes another contact of the first user
        stack.msn.make_mutual(pairs[0].passport, extra.contact, group="Friends")
        extra.passport, extra.mxid = pairs[0].passport, pairs[0].mxid
        extra.localpart, extra.name = pairs[0].localpart, pairs[0].name
        pairs.append(extra)
    user, _ = await stack.logged_in(pairs[0])
    conversations: list[_Conversation] = []
    for index, pair in enumerate(pairs):
        peer = await stack.msn_peer(pair.contact, pair.contact_password)
        room, _ = await stack.open_dm(pair, user, peer, f"hello {index}")
        conversations.append(_Conversation(index, pair, peer, room))
    return user, conversations


async def run_chaos(stack: Stack, plan: ChaosPlan) -> ChaosResult:
    """Run the scenario of the module documentation on ``stack`` and count."""
    rng = random.Random(plan.seed)
    user, conversations = await _setup(stack, plan)
    alice = conversations[0].pair.passport
    total = plan.messages_each_way
    per_conversation = [
        len(range(i, total, plan.conversations)) for i in range(plan.conversations)
    ]
    faults: list[str] = []
    fault_tasks: list[asyncio.Task[None]] = []

    # faults fire when the Matrix side reaches these message numbers
    schedule: dict[int, list[str]] = {}

    def plan_fault(kind: str, count: int) -> None:
        for _ in range(count):
            schedule.setdefault(rng.randrange(total // 10, total * 9 // 10 + 1), []).append(kind)

    plan_fault("ns", plan.ns_drops)
    plan_fault("sb", plan.sb_drops)
    plan_fault("restart", plan.bridge_restarts)
    restart_lock = asyncio.Lock()

    async def inject(kind: str) -> None:
        await asyncio.sleep(rng.random() * 0.5)
        if kind == "restart":
            async with restart_lock:
                faults.append("bridge restart")
                await stack.restart_bridge()
            return
        async with restart_lock:  # not while the bridge restarts (the user is offline then)
            try:
                if kind == "ns":
                    await stack.msn.drop(alice)
                    faults.append("NS drop")
                else:
                    await stack.msn.close_switchboards(alice)
                    faults.append("SB drop")
            except KeyError:
                faults.append(f"{kind.upper()} drop skipped (offline)")

    async def matrix_to_msn() -> None:
        for n in range(total):
            for kind in schedule.get(n, []):
                fault_tasks.append(asyncio.create_task(inject(kind)))
            conv = conversations[n % plan.conversations]
            seq = n // plan.conversations
            conv.m2n_events[seq] = await user.send_text(conv.room, f"m2n {conv.index} {seq}")

    async def msn_to_matrix(conv: _Conversation) -> None:
        give_up = time.monotonic() + 60 + total  # generous: it is the bridge under test
        for seq in range(per_conversation[conv.index]):
            text = f"n2m {conv.index} {seq}"
            while time.monotonic() < give_up:
                conv.n2m_attempts[seq] = conv.n2m_attempts.get(seq, 0) + 1
                try:
                    await conv.peer.client.send_text(conv.pair.passport, text)
                except Exception:
                    await asyncio.sleep(0.3)  # the user is offline, or the switchboard closed
                    continue
                conv.n2m_acked.add(seq)
                break

    started = time.monotonic()
    await asyncio.gather(matrix_to_msn(), *(msn_to_matrix(c) for c in conversations))
    await asyncio.gather(*fault_tasks)
    await _settle(stack, user, conversations, plan.settle_seconds)
    seconds = time.monotonic() - started
    to_msn = _count_to_msn(stack, user, conversations)
    to_matrix = _count_to_matrix(stack, user, conversations)
    reconnects = stack.bridge.log_since(0).count("Connected to MSN as")
    return ChaosResult(plan, to_msn, to_matrix, seconds, faults, reconnects)


# region waiting and counting


def _final_status(user: MatrixTestClient, room: str) -> dict[str, str]:
    """The latest send status per Matrix event of the room."""
    statuses: dict[str, str] = {}
    for evt in user.events(room, "com.beeper.message_send_status"):
        content = evt.get("content", {})
        event_id = content.get("m.relates_to", {}).get("event_id")
        if event_id:
            statuses[event_id] = str(content.get("status"))
    return statuses


def _received_by(peer: MSNPeer, passport: str) -> list[tuple[int, int]]:
    got = []
    for evt in peer.events:
        if isinstance(evt, TextMessageReceived) and evt.sender.lower() == passport.lower():
            match = _TEXT.match(evt.text)
            if match and match.group(1) == "m2n":
                got.append((int(match.group(2)), int(match.group(3))))
    return got


def _in_room(user: MatrixTestClient, conv: _Conversation) -> list[int]:
    seqs = []
    for evt in user.events(conv.room, "m.room.message"):
        if evt.get("sender") != conv.pair.contact_ghost:
            continue
        match = _TEXT.match(str(evt.get("content", {}).get("body", "")))
        if match and match.group(1) == "n2m" and int(match.group(2)) == conv.index:
            seqs.append(int(match.group(3)))
    return seqs


async def _settle(
    stack: Stack, user: MatrixTestClient, conversations: list[_Conversation], timeout: float
) -> None:
    """Until every Matrix message has a final status and every acknowledged MSN message is in
    its room (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = 0
        for conv in conversations:
            statuses = _final_status(user, conv.room)
            pending += sum(statuses.get(e) in (None, "PENDING") for e in conv.m2n_events.values())
            pending += len(conv.n2m_acked - set(_in_room(user, conv)))
        if not pending:
            break
        await asyncio.sleep(0.5)
    with contextlib.suppress(Exception):
        await stack.bridge.wait_quiet(1.0, timeout=10)


def _count_to_msn(
    stack: Stack, user: MatrixTestClient, conversations: list[_Conversation]
) -> Direction:
    d = Direction("Matrix -> MSN")
    for conv in conversations:
        statuses = _final_status(user, conv.room)
        received = [
            seq for c, seq in _received_by(conv.peer, conv.pair.passport) if c == conv.index
        ]
        counts: dict[int, int] = {}
        for seq in received:
            counts[seq] = counts.get(seq, 0) + 1
        d.out_of_order += _inversions(received)
        for seq, event_id in conv.m2n_events.items():
            d.sent += 1
            arrived = counts.get(seq, 0)
            failed = statuses.get(event_id, "").startswith("FAIL")
            if failed:
                d.reported_failed += 1
                d.reported_failed_but_arrived += arrived > 0
            if arrived > 1:
                d.duplicated += 1
            elif arrived == 1 and not failed:
                d.delivered += 1
            elif arrived == 0 and not failed:
                d.lost += 1
                if len(d.lost_examples) < 10:
                    d.lost_examples.append(
                        f"m2n {conv.index} {seq} ({event_id}, status {statuses.get(event_id)})"
                    )
    return d


def _count_to_matrix(
    stack: Stack, user: MatrixTestClient, conversations: list[_Conversation]
) -> Direction:
    d = Direction("MSN -> Matrix")
    for conv in conversations:
        seen = _in_room(user, conv)
        counts: dict[int, int] = {}
        for seq in seen:
            counts[seq] = counts.get(seq, 0) + 1
        d.out_of_order += _inversions(seen)
        for seq in sorted(conv.n2m_acked):
            d.sent += 1
            arrived = counts.get(seq, 0)
            resent = conv.n2m_attempts.get(seq, 1) > 1
            d.resent += resent
            if arrived == 1:
                d.delivered += 1
            elif arrived == 0:
                d.lost += 1
                if len(d.lost_examples) < 10:
                    d.lost_examples.append(f"n2m {conv.index} {seq}")
            elif not resent:
                d.duplicated += 1
    return d


def _inversions(seqs: list[int]) -> int:
    """How many first arrivals came after a higher sequence number (repeats are counted as
    duplicates, not here)."""
    highest = -1
    wrong = 0
    seen: set[int] = set()
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            wrong += 1
        highest = max(highest, seq)
    return wrong


def describe(result: ChaosResult) -> str:
    lines = result.lines()
    for d in (result.to_msn, result.to_matrix):
        if d.lost_examples:
            lines.append(f"{d.name} lost, e.g.: {'; '.join(d.lost_examples)}")
    return "\n".join(lines)

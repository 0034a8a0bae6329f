"""Cost of the roster: what reading list and presence commands into frozen contacts adds to
parsing them.

Run with ``python bench/roster.py [--contacts N] [--rounds N] [--repeat N]``. It builds what a
client with ``--contacts`` contacts receives at an MSNP12 login (``LSG``, ``LST`` with GUIDs and
groups) and then ``--rounds`` presence changes per contact (``NLN`` with capabilities, ``UBX``
every tenth, ``FLN`` every twentieth), and prints, best of ``--repeat`` runs, per command:

* the baseline measured in the same run: :class:`bridge.msnp.codec.Parser` parsing the stream
  alone;
* parsing plus :func:`bridge.msnp.list_commands.receive` into a :class:`bridge.msnp.roster.Roster`
  (each change replaces a frozen :class:`~bridge.msnp.values.Contact` and makes an event), and
  its ratio to the baseline.
"""

from __future__ import annotations

from pathlib import Path
import argparse
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp import list_commands
from bridge.msnp.codec import Command, Parser, Role
from bridge.msnp.roster import Roster

STATUSES = ("NLN", "BSY", "AWY", "IDL", "BRB")


def stream(contacts: int, rounds: int) -> bytes:
    groups = [f"{i:08x}-1111-2222-3333-444455556666" for i in range(8)]
    lines = [f"LSG Group%20{i} {guid}\r\n".encode() for i, guid in enumerate(groups)]
    for i in range(contacts):
        guid = f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"
        lines.append(
            f"LST N=user{i}@example.com F=User%20{i} C={guid} 11 1 {groups[i % 8]}\r\n".encode()
        )
    for r in range(rounds):
        for i in range(contacts):
            status = STATUSES[(i + r) % len(STATUSES)]
            lines.append(
                f"NLN {status} user{i}@example.com User%20{i}%20({r}) 1342177280 0\r\n".encode()
            )
            if i % 10 == r % 10:
                xml = f"<Data><PSM>round {r}</PSM><CurrentMedia></CurrentMedia></Data>".encode()
                lines.append(f"UBX user{i}@example.com {len(xml)}\r\n".encode() + xml)
            if i % 20 == r % 20:
                lines.append(f"FLN user{i}@example.com\r\n".encode())
    return b"".join(lines)


def parse(data: bytes) -> list[Command]:
    parser = Parser(Role.CLIENT, version=12, max_payload=1 << 30)
    parser.feed(data)
    out = []
    while (command := parser.next_command()) is not None:
        out.append(command)
    return out


def best(repeat: int, run: object) -> float:
    assert callable(run)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--contacts", type=int, default=1000)
    args.add_argument("--rounds", type=int, default=20)
    args.add_argument("--repeat", type=int, default=5)
    opts = args.parse_args()
    data = stream(opts.contacts, opts.rounds)
    count = len(parse(data))
    events = 0

    def with_roster() -> None:
        nonlocal events
        roster = Roster(12, max_contacts=opts.contacts)
        events = 0
        for command in parse(data):
            if list_commands.receive(roster, command) is not None:
                events += 1
        assert len(roster.contacts) == opts.contacts

    parsed = best(opts.repeat, lambda: parse(data))
    read = best(opts.repeat, with_roster)
    print(
        f"{count:,} commands ({len(data) / 1e6:.1f} MB), {events:,} events, best of {opts.repeat}"
    )
    print(f"{'codec only (baseline)':32} {parsed / count * 1e6:7.2f} us/command")
    print(f"{'codec + roster':32} {read / count * 1e6:7.2f} us/command   x{read / parsed:.2f}")


if __name__ == "__main__":
    main()

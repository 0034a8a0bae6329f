"""Cost of the MSNP18 circle parsers on real-sized and hostile input.

Run with ``python bench/msnp18_circles.py [--repeat N]``. It prints, best of ``--repeat`` (CPU
time of this thread):

* a circle's member list (``ABFindContactsPaged`` with the circle's ``abHandle``) of 64...4096
  members through :func:`parse_members` (which keeps at most ``MAX_MEMBERS``): milliseconds and
  microseconds per member; the baseline, on the same bytes in the same run, is
  ``xml.etree.ElementTree.fromstring`` (which builds a tree and extracts nothing);
* ``SDG`` text messages and ``NFY`` rosters (up to the 16 KB payload cap) through
  :func:`parse_sdg` / :func:`parse_nfy`; baseline: :func:`bridge.msnp.message.parse_message`
  (the switchboard ``MSG`` parser) on the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import argparse
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.circles import build_sdg_text, parse_circles, parse_members, parse_nfy, parse_sdg
from bridge.msnp.message import parse_message
from bridge.msnp.soap import parse_response

CID = "00000000-0000-0000-0009-0123456789ab"
MEMBER = (
    "<Contact><contactId>{i:08x}-0000-4000-8000-{i:012x}</contactId><contactInfo><contactType>"
    "Live</contactType><quickName>user{i}@example.com</quickName><passportName>"
    "user{i}@example.com</passportName><IsPassportNameHidden>false</IsPassportNameHidden>"
    "<displayName>user{i}@example.com</displayName><puid>0</puid><CID>{i}</CID>"
    "<NetworkInfoList><NetworkInfo><DomainId>1</DomainId><SourceId>WL</SourceId>"
    "<RelationshipType>5</RelationshipType><RelationshipState>3</RelationshipState>"
    "<RelationshipRole>3</RelationshipRole></NetworkInfo></NetworkInfoList></contactInfo>"
    "<propertiesChanged /><fDeleted>false</fDeleted></Contact>"
)


def members_answer(n: int) -> bytes:
    body = "".join(MEMBER.format(i=i) for i in range(n))
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
        '"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ABFindContactsPagedResponse '
        'xmlns="http://www.msn.com/webservices/AddressBook"><ABFindContactsPagedResult>'
        f"<Contacts>{body}</Contacts></ABFindContactsPagedResult></ABFindContactsPagedResponse>"
        "</soap:Body></soap:Envelope>"
    ).encode()


CIRCLE = (
    "<CircleResult><Circles><CircleInverseInfo><Content><Handle><Id>{cid}</Id></Handle><Info>"
    "<DisplayName>Friends</DisplayName></Info></Content><PersonalInfo><MembershipInfo>"
    "<CirclePersonalMembership><Role>Member</Role><State>Accepted</State>"
    "</CirclePersonalMembership></MembershipInfo></PersonalInfo><Deleted>false</Deleted>"
    "</CircleInverseInfo></Circles><CircleTicket>ticket</CircleTicket></CircleResult>"
)


def own_book_answer(n: int) -> bytes:
    """The user's own ABFindContactsPaged answer: ``n`` contacts, two groups, one circle."""
    groups = "".join(
        f"<Group><groupId>{g:08x}-0000-4000-8000-000000000000</groupId><groupInfo><name>G{g}"
        "</name></groupInfo></Group>"
        for g in range(2)
    )
    return members_answer(n).replace(
        b"</Contacts>", b"</Contacts><Groups>" + groups.encode() + b"</Groups>"
        + CIRCLE.format(cid=CID).encode(),
    )  # fmt: skip


def whole_tree(data: bytes) -> object:
    return parse_response(data, "ABFindContactsPagedResponse")


def roster(n: int) -> bytes:
    users = "".join(f"<user><id>1:user{i}@example.com</id></user>" for i in range(n))
    body = f"<circle><roster><id>IM</id>{users}</roster></circle>".encode()
    return (
        f"Routing: 1.0\r\nTo: 1:alice@example.com\r\nFrom: 9:{CID}@live.com\r\n\r\n"
        "Reliability: 1.0\r\nStream: 0\r\n\r\nPublication: 1.0\r\nUri: /circle\r\nNotifType: "
        f"Partial\r\nContent-Type: application/circles+xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    print("circle member lists (parse_members; baseline ElementTree.fromstring on the same bytes)")
    for n in (64, 256, 512, 1024, 4096):
        data = members_answer(n)
        ours = best(lambda: parse_members(data), repeat)  # noqa: B023
        base = best(lambda: ET.fromstring(data), repeat)  # noqa: B023
        print(f"  {n:5d} members {len(data) / 1024:7.0f} KB: {ours * 1000:7.2f} ms"
              f" ({ours / n * 1e6:5.1f} us/member), baseline {base * 1000:7.2f} ms")  # fmt: skip
    print(
        "own address book with one circle, read for its circles (parse_circles, which leaves the"
        " contacts out of the tree; baseline: the whole tree, as before)"
    )
    for n in (20, 100, 1000):
        data = own_book_answer(n)
        assert [c.circle_id for c in parse_circles(data).circles] == [CID]
        ours = best(lambda: [parse_circles(data) for _ in range(100)], repeat)  # noqa: B023
        base = best(lambda: [whole_tree(data) for _ in range(100)], repeat)  # noqa: B023
        print(f"  {n:5d} contacts {len(data) / 1024:6.0f} KB: {ours * 10:7.3f} ms each,"
              f" baseline {base * 10:7.3f} ms ({base / ours:4.2f}x)")  # fmt: skip
    print(
        "own address book in no circle (most accounts), read for its circles (parse_circles;"
        " baseline: the same answer with one circle)"
    )
    for n in (20, 100, 1000):
        data = own_book_answer(n)
        plain = data.replace(CIRCLE.format(cid=CID).encode(), b"")
        assert parse_circles(plain).circles == ()
        ours = best(lambda: [parse_circles(plain) for _ in range(100)], repeat)  # noqa: B023
        base = best(lambda: [parse_circles(data) for _ in range(100)], repeat)  # noqa: B023
        print(f"  {n:5d} contacts {len(plain) / 1024:6.0f} KB: {ours * 10:7.3f} ms each,"
              f" baseline {base * 10:7.3f} ms ({base / ours:4.0f}x)")  # fmt: skip
    print("NS payloads, 1000 each (baseline parse_message on the same bytes)")
    text = build_sdg_text(CID, "bob@example.com", "{abc}", "a circle message " * 20)[0]
    cases = [(f"SDG text ({len(text)} B)", text, parse_sdg)]
    for n in (16, 256, 330):  # 330 users: just under the 16 KB payload cap
        payload = roster(n)
        cases.append((f"NFY roster of {n} ({len(payload)} B)", payload, parse_nfy))
    for name, payload, fn in cases:
        ours = best(lambda: [fn(payload) for _ in range(1000)], repeat)  # noqa: B023
        base = best(lambda: [parse_message(payload) for _ in range(1000)], repeat)  # noqa: B023
        print(f"  {name:32s}: {ours * 1000:7.2f} ms, baseline {base * 1000:7.2f} ms")


if __name__ == "__main__":
    main()

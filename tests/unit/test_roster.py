"""Table-driven roster tests: what an MSNP2-12 server sends about the list and presence -> the
events and the state (:mod:`bridge.msnp.list_commands` into :class:`bridge.msnp.roster.Roster`).

Each row is ``(version, wire lines, expected events, expected state)``; the lines follow the
shapes of the public MSNP documentation (hypothetic.org's MSNP2-7 pages, the NINA wiki's
MSNP8/MSNP11 pages) with our own values, and are parsed by the codec as a client would.
"""

from __future__ import annotations

from typing import Any
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from bridge.msnp import list_commands
from bridge.msnp.codec import Parser, Role, encode_arg
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    Event,
    GroupChanged,
    PersonalMessageChanged,
    PresenceChanged,
)
from bridge.msnp.roster import MAX_CONTACT_GROUPS, MAX_GROUPS, MAX_NAME, Roster
from bridge.msnp.values import Contact, Group, Lists, Status

FL, AL, BL, RL = Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE
BOB, CAROL, DAVE = "bob@example.com", "carol@example.com", "dave@example.com"
G1 = "8a6b0f1c-2a4b-4c8e-9d0e-1f2a3b4c5d6e"
G2 = "0f1c2a4b-8a6b-4c8e-9d0e-6e5d4c3b2a1f"
BOB_GUID = "11111111-2222-3333-4444-555555555555"
MSNOBJ = '<msnobj Creator="bob@example.com" Size="5" Type="3" SHA1D="x"/>'
MSNOBJ_WIRE = encode_arg(MSNOBJ)


def feed(roster: Roster, *lines: bytes) -> list[Event]:
    parser = Parser(Role.CLIENT, version=roster.version)
    events: list[Event] = []
    for line in lines:
        parser.feed(line if line.endswith(b"\r\n") or b"\r\n" in line else line + b"\r\n")
        for command in parser:
            assert list_commands.handles(command.name), command
            event = list_commands.receive(roster, command)
            if event is not None:
                events.append(event)
    return events


@dataclass
class Row:
    id: str
    version: int
    lines: list[bytes]
    events: list[Event] = field(default_factory=list)
    contacts: dict[str, Contact] | None = None
    groups: dict[str, Group] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    before: list[bytes] = field(default_factory=list)
    phones: dict[str | None, dict[str, str]] = field(default_factory=dict)


def ubx(passport: str, xml: bytes) -> bytes:
    return f"UBX {passport} {len(xml)}\r\n".encode() + xml


ROWS = [
    # --- MSNP2-7: one LST line per contact and list, with the SYN trid and serials --------
    Row(
        "msnp5 list download",
        5,
        [
            b"GTC 4 7 A",
            b"BLP 4 7 BL",
            b"LSG 4 7 1 2 0 Other%20Contacts 0",
            b"LSG 4 7 2 2 1 Friends 0",
            b"LST 4 FL 7 1 2 bob@example.com Bob%20B 1,0",
            b"LST 4 FL 7 2 2 carol@example.com Carol 0",
            b"LST 4 AL 7 1 1 bob@example.com Bob%20B",
            b"LST 4 BL 7 0 0",
            b"LST 4 RL 7 1 2 bob@example.com Bob%20B",
            b"LST 4 RL 7 2 2 dave@example.com Dave",
        ],
        contacts={
            BOB: Contact(BOB, "Bob B", FL | AL | RL, groups=("1", "0")),
            CAROL: Contact(CAROL, "Carol", FL, groups=("0",)),
            DAVE: Contact(DAVE, "Dave", RL),
        },
        groups={"0": Group("0", "Other Contacts"), "1": Group("1", "Friends")},
        state={
            "lists_complete": FL | AL | BL | RL,
            "privacy_allow_unlisted": False,
            "reverse_prompt": True,
            "groups_listed": 2,
        },
    ),
    Row(
        "msnp5 someone adds us: reported with their name, ours unchanged",
        5,
        [b"ADD 0 RL 8 dave@example.com Dave%20D"],
        [ContactAdded(DAVE, RL, "Dave D")],
        contacts={DAVE: Contact(DAVE, "Dave", RL | AL)},
        before=[b"LST 4 AL 7 1 1 dave@example.com Dave"],
    ),
    Row(
        "msnp7 another client of ours adds into a group",
        7,
        [b"ADD 12 FL 9 carol@example.com Carol%20C 1"],
        [ContactAdded(CAROL, FL, "Carol C", None, "1")],
        contacts={CAROL: Contact(CAROL, "Carol C", FL, groups=("1",))},
    ),
    Row(
        "msnp7 off the forward list: in no group any more",
        7,
        [b"REM 0 FL 9 bob@example.com"],
        [ContactRemoved(BOB, FL)],
        contacts={BOB: Contact(BOB, "Bob", AL)},
        before=[b"LST 4 FL 7 1 1 bob@example.com Bob 1,2", b"LST 4 AL 7 1 1 bob@example.com Bob"],
    ),
    Row(
        "msnp7 out of one group",
        7,
        [b"REM 0 FL 9 bob@example.com 2"],
        [ContactRemoved(BOB, FL, "2")],
        contacts={BOB: Contact(BOB, "Bob", FL, groups=("1",))},
        before=[b"LST 4 FL 7 1 1 bob@example.com Bob 1,2"],
    ),
    Row(
        "msnp7 groups added, renamed, removed (members leave it)",
        7,
        [b"ADG 0 10 Work 3 0", b"REG 0 11 3 Office 0", b"RMG 0 12 1"],
        [
            GroupChanged(Group("3", "Work")),
            GroupChanged(Group("3", "Office")),
            GroupChanged(Group("1", "Friends"), removed=True),
        ],
        contacts={BOB: Contact(BOB, "Bob", FL)},
        groups={"3": Group("3", "Office")},
        before=[b"LSG 4 7 1 1 1 Friends 0", b"LST 4 FL 7 1 1 bob@example.com Bob 1"],
    ),
    Row(
        "msnp7 a rename of an unknown group is ignored",
        7,
        [b"REG 0 11 9 Ghost 0", b"RMG 0 12 9"],
        [],
        groups={},
    ),
    Row(
        "msnp7 presence: ILN at login, NLN, FLN (keeps the name)",
        7,
        [
            b"ILN 9 AWY bob@example.com Bobby",
            b"NLN BSY bob@example.com Bob%20at%20work",
            b"FLN bob@example.com",
        ],
        [  # events name a contact as the list spells them
            PresenceChanged("Bob@Example.com", Status.AWAY, "Bobby", initial=True),
            PresenceChanged("Bob@Example.com", Status.BUSY, "Bob at work"),
            PresenceChanged("Bob@Example.com", Status.OFFLINE, None),
        ],
        contacts={BOB: Contact("Bob@Example.com", "Bob at work", FL, groups=("0",))},
        before=[b"LST 4 FL 7 1 1 Bob@Example.com Bob 0"],
    ),
    # --- MSNP8-9: LST without trid, list bitmask, BPR after the contact ---------------------
    Row(
        "msnp9 list with phones",
        9,
        [
            b"GTC N",
            b"BLP AL",
            b"PRP PHH 555%20123",
            b"LSG 0 Other%20Contacts 0",
            b"LSG 1 Friends 0",
            b"LST bob@example.com Bob 11 1",
            b"BPR PHH 555%200101",
            b"BPR MOB Y",
            b"LST carol@example.com Carol 3",
            b"BPR 14 bob@example.com PHW 555%200202",
            b"BPR 15 nobody@example.com PHW 1",
            b"BPR PHX ignored",
        ],
        contacts={
            BOB: Contact(BOB, "Bob", FL | AL | RL, groups=("1",)),
            CAROL: Contact(CAROL, "Carol", FL | AL),
        },
        groups={"0": Group("0", "Other Contacts"), "1": Group("1", "Friends")},
        state={
            "listed": 2,
            "groups_listed": 2,
            "reverse_prompt": False,
            "privacy_allow_unlisted": True,
        },
        phones={
            None: {"PHH": "555 123"},
            BOB: {"PHH": "555 0101", "MOB": "Y", "PHW": "555 0202"},
            CAROL: {},
            "nobody@example.com": {},
        },
    ),
    Row(
        "msnp9 NLN with capabilities and an MSN object; a stranger is reported, not kept",
        9,
        [
            b"NLN NLN bob@example.com Bob 1342177280 " + MSNOBJ_WIRE.encode(),
            b"NLN IDL stranger@example.com Stranger 0 0",
            b"NLN ZZZ bob@example.com Bob",
        ],
        [
            PresenceChanged(BOB, Status.ONLINE, "Bob", 1342177280, MSNOBJ),
            PresenceChanged("stranger@example.com", Status.IDLE, "Stranger"),
            PresenceChanged(BOB, Status.ONLINE, "Bob"),  # an unknown status reads as online
        ],
        contacts={BOB: Contact(BOB, "Bob", FL, status=Status.ONLINE)},
        before=[b"LST bob@example.com Bob 1"],
    ),
    # --- MSNP10-12: N=/F=/C= fields, GUIDs ----------------------------------------------------
    Row(
        "msnp12 list download",
        12,
        [
            b"PRP MFN Alice%20A",
            b"LSG Friends " + G1.encode(),
            b"LSG Work " + G2.encode(),
            f"LST N={BOB} F=Bob C={BOB_GUID} 11 1 {G1},{G2}".encode(),
            f"LST N={DAVE} F=Dave 8 1".encode(),
            b"LST F=nobody 1",
        ],
        contacts={
            BOB: Contact(BOB, "Bob", FL | AL | RL, BOB_GUID, (G1, G2)),
            DAVE: Contact(DAVE, "Dave", RL),
        },
        groups={G1: Group(G1, "Friends"), G2: Group(G2, "Work")},
        state={"own_name": "Alice A", "listed": 3, "groups_listed": 2},
    ),
    Row(
        "msnp12 someone adds us; another client moves bob into a group",
        12,
        [b"ADC 0 RL N=dave@example.com F=Dave%20D", f"ADC 0 FL C={BOB_GUID} {G2}".encode()],
        [ContactAdded(DAVE, RL, "Dave D"), ContactAdded(BOB, FL, "Bob", BOB_GUID, G2)],
        contacts={
            BOB: Contact(BOB, "Bob", FL, BOB_GUID, (G1, G2)),
            DAVE: Contact(DAVE, "Dave D", RL),  # a new contact gets the name the push said
        },
        before=[f"LST N={BOB} F=Bob C={BOB_GUID} 1 1 {G1}".encode()],
    ),
    Row(
        "msnp12 removed by GUID, from a group and from the forward list",
        12,
        [f"REM 0 FL {BOB_GUID} {G1}".encode(), f"REM 0 FL {BOB_GUID}".encode()],
        [ContactRemoved(BOB, FL, G1), ContactRemoved(BOB, FL)],
        contacts={BOB: Contact(BOB, "Bob", AL, BOB_GUID)},
        before=[f"LST N={BOB} F=Bob C={BOB_GUID} 3 1 {G1},{G2}".encode()],
    ),
    Row(
        "msnp12 groups (a serial before the name is skipped)",
        12,
        [f"ADG 0 5 Family {G2}".encode(), f"REG 0 {G2} Kin".encode(), f"RMG 0 {G2}".encode()],
        [
            GroupChanged(Group(G2, "Family")),
            GroupChanged(Group(G2, "Kin")),
            GroupChanged(Group(G2, "Kin"), removed=True),
        ],
        groups={},
    ),
    Row(
        "msnp11 personal message; unreadable XML is skipped",
        11,
        [
            ubx(BOB, b"<Data><PSM>at lunch</PSM><CurrentMedia></CurrentMedia></Data>"),
            ubx(BOB, b"<Data><PSM>broken"),
        ],
        [PersonalMessageChanged(BOB, "at lunch", "")],
        contacts={BOB: Contact(BOB, "Bob", FL, personal_message="at lunch")},
        before=[f"LST N={BOB} F=Bob 1".encode()],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_rows(row: Row) -> None:
    roster = Roster(row.version)
    feed(roster, *row.before)
    assert feed(roster, *row.lines) == row.events
    if row.contacts is not None:
        assert dict(roster.contacts) == row.contacts
    if row.groups is not None:
        assert dict(roster.groups) == row.groups
    for name, value in row.state.items():
        assert getattr(roster, name) == value, name
    for passport, numbers in row.phones.items():
        assert roster.phones(passport) == numbers, passport


def test_handled_commands() -> None:
    names = ["LST", "LSG", "ADD", "ADC", "REM", "ADG", "RMG", "REG"]
    names += ["ILN", "NLN", "FLN", "UBX", "BLP", "GTC", "PRP", "BPR"]
    assert all(list_commands.handles(n) for n in names)
    assert not any(list_commands.handles(n) for n in ("MSG", "CHL", "RNG", "OUT", "XFR"))


def test_snapshot_is_frozen_and_stays_as_it_was() -> None:
    roster = Roster(12)
    feed(roster, f"LST N={BOB} F=Bob 1".encode(), b"LSG Friends " + G1.encode())
    synced = roster.snapshot()
    feed(roster, b"NLN BSY bob@example.com Bobby 0", f"ADC 0 RL N={DAVE} F=Dave".encode())
    assert synced.contacts == {BOB: Contact(BOB, "Bob", FL)}  # the later changes left it alone
    assert roster.contacts[BOB].status is Status.BUSY
    with pytest.raises(TypeError):
        synced.contacts[DAVE] = Contact(DAVE, "Dave")  # type: ignore[index]
    with pytest.raises(TypeError):
        roster.contacts[DAVE] = Contact(DAVE, "Dave")  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        synced.contacts[BOB].status = Status.AWAY  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        synced.groups[G1].name = "x"  # type: ignore[misc]


def test_what_the_server_sends_costs_bounded_memory() -> None:
    roster = Roster(9, max_contacts=2)
    lines = [f"LST u{i}@example.com U{i} 1".encode() for i in range(5)]
    feed(roster, *lines)
    assert len(roster.contacts) == 2 and roster.listed == 5
    assert roster.tally.counts["contacts_not_kept"] == 3
    # a push about a contact not kept is still reported
    assert feed(roster, b"ADD 0 RL 1 u4@example.com U4") == [
        ContactAdded("u4@example.com", RL, "U4")
    ]
    assert "u4@example.com" not in roster.contacts

    roster = Roster(12)
    many = ",".join(f"g{i}-x" for i in range(MAX_CONTACT_GROUPS * 3))
    long_name = "n" * (MAX_NAME * 3)
    feed(roster, f"LST N={BOB} F={long_name} 1 1 {many}".encode())
    assert len(roster.contacts[BOB].groups) == MAX_CONTACT_GROUPS
    assert len(roster.contacts[BOB].friendly_name) == MAX_NAME
    feed(roster, *(f"LSG G{i} {i}-guid".encode() for i in range(MAX_GROUPS + 5)))
    assert len(roster.groups) == MAX_GROUPS
    assert roster.tally.counts["groups_not_kept"] == 5
    assert feed(roster, b"ADG 0 New new-guid") == []  # not kept: not announced


def test_value_calls_for_confirmed_changes_and_the_address_book() -> None:
    """What the list editor (after the server's confirmation) and a MSNP13+ address book
    call: the same state and events as the wire readers."""
    roster = Roster(13)
    roster.list_contact(BOB, "Bob", FL | AL, guid=BOB_GUID, groups=(G1,))
    assert roster.added(CAROL, FL, name="Carol", guid="c-guid", group=G1) == ContactAdded(
        CAROL, FL, "Carol", "c-guid", G1
    )
    assert roster.added(CAROL, AL) == ContactAdded(CAROL, AL, "Carol", "c-guid")
    assert roster.removed("c-guid", FL) == ContactRemoved(CAROL, FL)
    assert roster.contacts[CAROL] == Contact(CAROL, "Carol", AL, "c-guid")
    assert roster.group_set(Group(G1, "Friends")) == GroupChanged(Group(G1, "Friends"))
    assert roster.group_removed(G1) == GroupChanged(Group(G1, "Friends"), removed=True)
    assert roster.group_removed(G1) is None
    assert roster.contacts[BOB].groups == ()
    assert roster.find(BOB_GUID.upper()) == roster.contacts[BOB]

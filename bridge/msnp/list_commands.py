"""Reads what an MSNP2-12 notification server sends about the list and presence into a roster.

The commands are ``LST``, ``LSG``, ``ADD``, ``ADC``, ``REM``, ``ADG``, ``RMG``, ``REG``,
``ILN``, ``NLN``, ``FLN``, ``UBX``, ``BLP``, ``GTC``, ``PRP`` and ``BPR``. :func:`receive` takes
one (sans-IO) and returns the event it makes, if any; the shapes depend on the roster's negotiated
``version``.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Callable
import logging

from .adl import parse_ml
from .codec import Command, decode_arg
from .errors import ProtocolError, RemoteProtocolError
from .events import Event
from .roster import MAX_CONTACT_GROUPS, MAX_MSN_OBJECT, MAX_NAME, Roster
from .ubx import parse_user_data
from .values import Group, Lists, Status

__all__ = ["handles", "parse_adg", "receive"]


def handles(name: str) -> bool:
    """Whether :func:`receive` reads commands called ``name``."""
    return name in _READERS


def receive(roster: Roster, cmd: Command) -> Event | None:
    """Apply one command the server sent; returns the event it makes (often none)."""
    reader = _READERS.get(cmd.name)
    return None if reader is None else reader(roster, cmd)


def parse_adg(version: int, cmd: Command) -> Group | None:
    """The group of an ``ADG`` (pushed, or the reply to ours)."""
    args = list(cmd.args)
    if version < 10:
        # ADG trid ser name id 0
        if len(args) >= 3:
            return Group(args[2], _name(args[1]))
        return None
    # ADG trid name guid (some servers put a serial first)
    if args and args[0].isdigit() and len(args) >= 3:
        args.pop(0)
    if len(args) >= 2:
        return Group(args[1], _name(args[0]))
    return None


_STATUSES: Final = {status.value: status for status in Status}


def _status(code: str) -> Status:
    """An unknown status reads as online (the contact is there)."""
    return _STATUSES.get(code.upper(), Status.ONLINE)


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _group_ids(text: str) -> tuple[str, ...]:
    """The group ids of a comma-separated list, without repeats, at most MAX_CONTACT_GROUPS."""
    return tuple(dict.fromkeys(g for g in text.split(",") if g))[:MAX_CONTACT_GROUPS]


def _name(value: str) -> str:
    return decode_arg(value)[:MAX_NAME]


def _fields(args: list[str], *, leading: bool) -> tuple[dict[str, str], list[str]]:
    """``N=``/``F=``/``C=`` arguments apart from the others (``leading``: only before them)."""
    fields: dict[str, str] = {}
    rest: list[str] = []
    for token in args:
        key, sep, value = token.partition("=")
        if sep and key in ("N", "F", "C") and not (leading and rest):
            fields[key] = value
        else:
            rest.append(token)
    return fields, rest


def _lst(roster: Roster, cmd: Command) -> Event | None:
    args = cmd.args
    if roster.version < 8:
        # LST trid FL ser i n passport name [groups]: one line per contact and list
        code = args[0].upper() if args else ""
        try:
            list_ = Lists.from_code(code)
        except KeyError:
            list_ = Lists.NONE
        if len(args) >= 6:
            groups = _group_ids(args[6]) if code == "FL" and len(args) >= 7 else None
            roster.list_contact(args[4], _name(args[5]), list_, groups=groups, merge=True)
        if len(args) >= 4 and (args[2] == args[3] or args[3] == "0"):
            roster.lists_complete |= list_
        return None
    if roster.version < 10:
        # LST passport name lists [groups]
        if len(args) >= 3:
            groups = _group_ids(args[3]) if len(args) >= 4 else ()
            roster.list_contact(
                args[0], _name(args[1]), Lists(_int(args[2]) & 0x1F), groups=groups
            )
    else:
        # LST N=passport F=name C=guid lists [1] [groups]
        fields, rest = _fields(list(args), leading=True)
        if "N" in fields:
            guids = [t for t in rest[1:] if "-" in t]
            roster.list_contact(
                fields["N"],
                _name(fields.get("F", fields["N"])),
                Lists(_int(rest[0]) & 0x1F) if rest else Lists.NONE,
                guid=fields.get("C") or None,
                groups=_group_ids(guids[-1]) if guids else (),
            )
    roster.listed += 1
    return None


def _lsg(roster: Roster, cmd: Command) -> Event | None:
    args = cmd.args
    group = None
    if roster.version < 8:
        # LSG trid ser i n id name 0
        if len(args) >= 5:
            group = Group(args[3], _name(args[4]))
    elif roster.version < 10:
        # LSG id name 0
        if len(args) >= 2:
            group = Group(args[0], _name(args[1]))
    elif len(args) >= 2:
        # LSG name guid
        group = Group(args[1], _name(args[0]))
    if group is not None:
        roster.group_set(group)
    roster.groups_listed += 1
    return None


def _list_args(roster: Roster, cmd: Command) -> tuple[Lists | None, list[str]]:
    """Strip the list code and (MSNP<10) serial from ADD/ADC/REM arguments."""
    args = list(cmd.args)
    if not args:
        return None, []
    try:
        list_ = Lists.from_code(args.pop(0))
    except KeyError:
        return None, []
    if args and args[0].isdigit() and roster.version < 10:
        args.pop(0)
    return list_, args


def _add(roster: Roster, cmd: Command) -> Event | None:
    # ADD trid FL ser passport name [group] (MSNP2-9)
    list_, args = _list_args(roster, cmd)
    if list_ is None or not args:
        return None
    name = _name(args[1]) if len(args) >= 2 else args[0]
    group = args[2] if len(args) >= 3 else None
    forward = list_ is Lists.FORWARD
    return roster.added(args[0], list_, name=name if forward else None, group=group, said=name)


def _adc(roster: Roster, cmd: Command) -> Event | None:
    # ADC trid FL N=passport F=name [C=guid] / ADC trid FL C=guid group (MSNP10+)
    list_, args = _list_args(roster, cmd)
    if list_ is None:
        return None
    fields, rest = _fields(args, leading=False)
    passport = fields.get("N")
    if passport is None:
        # into a group, by GUID (another of the user's clients did it)
        known = roster.find(fields["C"]) if "C" in fields else None
        if known is None or not rest:
            return None
        return roster.added(known.passport, list_, group=rest[0])
    name = _name(fields.get("F", passport))
    return roster.added(passport, list_, guid=fields.get("C") or None, said=name)


def _rem(roster: Roster, cmd: Command) -> Event | None:
    # REM trid FL [ser] passport|N=passport|C=guid|guid [group]
    list_, args = _list_args(roster, cmd)
    if list_ is None or not args:
        return None
    target = args[0][2:] if args[0].startswith(("N=", "C=")) else args[0]
    return roster.removed(target, list_, args[1] if len(args) >= 2 else None)


def _adg(roster: Roster, cmd: Command) -> Event | None:
    group = parse_adg(roster.version, cmd)
    return roster.group_set(group) if group is not None else None


def _rmg(roster: Roster, cmd: Command) -> Event | None:
    # RMG trid [ser] id
    return roster.group_removed(cmd.args[-1]) if cmd.args else None


def _reg(roster: Roster, cmd: Command) -> Event | None:
    # pushed rename: "REG 0 ser id name 0" (MSNP2-9) or "REG 0 guid name" (MSNP10+)
    args = cmd.args[1:] if roster.version < 10 else cmd.args
    if len(args) < 2 or args[0] not in roster.groups:
        return None
    return roster.group_set(Group(args[0], _name(args[1])))


def _blp(roster: Roster, cmd: Command) -> Event | None:
    # BLP [ser] AL|BL
    if cmd.args:
        roster.privacy_allow_unlisted = cmd.args[-1].upper() == "AL"
    return None


def _gtc(roster: Roster, cmd: Command) -> Event | None:
    # GTC [ser] A|N
    if cmd.args and cmd.args[-1].upper() in ("A", "N"):
        roster.reverse_prompt = cmd.args[-1].upper() == "A"
    return None


def _prp(roster: Roster, cmd: Command) -> Event | None:
    # PRP [ser] MFN name (the user's own friendly name from MSNP10); PRP [ser] PHH number ...
    args = list(cmd.args)
    if args and args[0].isdigit():
        args.pop(0)
    if len(args) >= 2 and args[0] == "MFN":
        roster.own_name = _name(args[1])
    elif args:
        roster.set_phone(None, args[0], decode_arg(args[1]) if len(args) >= 2 else "")
    return None


def _bpr(roster: Roster, cmd: Command) -> Event | None:
    # BPR PHH number (after the LST of its contact) / BPR [ser] passport PHH number (pushed)
    args = list(cmd.args)
    if len(args) >= 3 and args[0].isdigit():
        args.pop(0)
    if len(args) >= 3:
        roster.set_phone(args[0], args[1], decode_arg(args[2]))
    elif len(args) == 2 and roster.last_listed:
        roster.set_phone(roster.last_listed, args[0], decode_arg(args[1]))
    return None


def _iln(roster: Roster, cmd: Command) -> Event | None:
    return _presence(roster, cmd.args, initial=True)


def _nln(roster: Roster, cmd: Command) -> Event | None:
    return _presence(roster, cmd.args, initial=False)


def _person(roster: Roster, args: tuple[str, ...], at: int) -> tuple[str, ...] | None:
    """``args`` with the address at ``at`` in the MSNP2-13 form: MSNP14-17 put the network id
    after it (dropped), MSNP18 writes ``1:email`` (the prefix dropped). None for what is not
    a Windows Live person (circle members ``;via=``, other networks) and for the user's own
    account."""
    if roster.version < 14 or len(args) <= at:
        return args
    address = args[at]
    own = roster.own_passport.lower()
    bare = address.partition(":")[2] if roster.version >= 18 else address
    if own and roster.version >= 16 and bare.lower() == own:
        return None  # our own account, as every MSNP16+ endpoint of it hears
    if roster.version >= 18:
        network, colon, email = address.partition(":")
        if not colon or network != "1" or ";" in email:
            return None
        return (*args[:at], email, *args[at + 1 :])
    if len(args) > at + 1:
        if args[at + 1] != "1":
            return None
        return (*args[: at + 1], *args[at + 2 :])
    return args


def _presence(roster: Roster, args: tuple[str, ...], *, initial: bool) -> Event | None:
    # ILN trid status passport name [caps [msnobj]] / NLN status passport name [caps ...]
    # (MSNP14+: see _person; MSNP16+: caps as "caps:capsex")
    person = _person(roster, args, 1)
    if person is None:
        return None
    args = person
    if len(args) < 2:
        return None
    msn_object = None
    if len(args) >= 5 and args[4] != "0":
        msn_object = decode_arg(args[4])[:MAX_MSN_OBJECT]
        if "".join(msn_object.split()) in ("<msnobj/>", "<msnobj></msnobj>"):
            msn_object = None  # Escargot's "no picture" (MSNP9+)
    name = _name(args[2]) if len(args) >= 3 else None
    caps = _int(args[3].partition(":")[0]) if len(args) >= 4 else 0
    return roster.presence(args[1], _status(args[0]), name, caps, msn_object, initial)


def _fln(roster: Roster, cmd: Command) -> Event | None:
    # FLN passport (MSNP14+: see _person)
    args = _person(roster, cmd.args, 0)
    if not args:
        return None
    return roster.presence(args[0], Status.OFFLINE, None, keep_details=True)


def _ubx(roster: Roster, cmd: Command) -> Event | None:
    # UBX passport [network] length + personal-message XML (MSNP18: UBX 1:passport length)
    args = _person(roster, cmd.args, 0) if roster.version >= 14 else cmd.args
    if not args:
        return None
    if args is not cmd.args:
        cmd = Command(cmd.name, cmd.trid, args, cmd.payload)
    try:
        data = parse_user_data(cmd.payload or b"")
    except RemoteProtocolError as e:
        roster.tally.hit(
            "ubx_unreadable",
            "personal message of %s not read: %s",
            cmd.args[0],
            e,
            level=logging.INFO,
        )
        return None
    return roster.personal_message(cmd.args[0], data.personal_message, data.current_media)


def _ml_push(roster: Roster, cmd: Command, *, add: bool) -> Event | None:
    # MSNP13+: "ADL 0 <len>" / "RML 0 <len>" with <ml>: someone added us (l=8 reverse, 16
    # pending) or took us off, or another endpoint of ours changed a list; replies to our own
    # ADL/RML are the transactions' (they never come here)
    if roster.version < 13 or not cmd.payload:
        return None
    try:
        entries = parse_ml(cmd.payload)
    except ProtocolError as e:
        roster.tally.hit("ml_unreadable", "list push not read: %s", e, level=logging.INFO)
        return None
    first: Event | None = None
    for entry in entries:
        for bit in (Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE, Lists.PENDING):
            if not entry.lists & bit:
                continue
            if add:
                event: Event = roster.added(entry.email, bit, said=entry.friendly_name)
            else:
                event = roster.removed(entry.email, bit)
            first = first or event
    return first


def _adl(roster: Roster, cmd: Command) -> Event | None:
    return _ml_push(roster, cmd, add=True)


def _rml(roster: Roster, cmd: Command) -> Event | None:
    return _ml_push(roster, cmd, add=False)


_READERS: Final[dict[str, Callable[[Roster, Command], Event | None]]] = {
    "ADL": _adl,
    "RML": _rml,
    "LST": _lst,
    "LSG": _lsg,
    "ADD": _add,
    "ADC": _adc,
    "REM": _rem,
    "ADG": _adg,
    "RMG": _rmg,
    "REG": _reg,
    "BLP": _blp,
    "GTC": _gtc,
    "PRP": _prp,
    "BPR": _bpr,
    "ILN": _iln,
    "NLN": _nln,
    "FLN": _fln,
    "UBX": _ubx,
}

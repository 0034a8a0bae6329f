"""CPU of parsing the web-service answers a login reads, through each route of the XML parser.

Run with ``python bench/xml_parse.py [--repeat 200]``. For ``ABFindAll`` and
``FindMembership`` answers of 20 contacts (what every MSNP13+ login without deltas reads,
Escargot's always) and of 1000, and the MSNP18 circles lookup (the address book again, parsed
with its contacts and groups skipped: compare the whole-answer columns), it prints, best of
``--repeat`` runs, in microseconds:

* ``built`` — :func:`bridge.msnp.xmlsafe.parse_xml` as it is (ElementTree's C builder, then
  one walk that checks the depth and indexes the tags; elements are read through views);
* ``streamed`` — the same document through expat's handlers in Python, which check every
  limit as they go and build the same tree (the route of documents that are not plainly
  UTF-8; the baseline, measured in the same run on the same bytes);
* ``C tree only`` — ``ElementTree.fromstring`` (the floor: a tree, no checks, no index);
* the whole answer parsed (``parse_find_all`` / ``parse_find_membership``) each way.

Both routes must give the same tree; the script checks it before timing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from unittest import mock
import argparse
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msnp13_parsers import best, find_all_answer
from msnp18_circles import own_book_answer

from bridge.msnp import xmlsafe
from bridge.msnp.addressbook import parse_find_all
from bridge.msnp.circles import parse_circles
from bridge.msnp.sharing import parse_find_membership
from bridge.msnp.soap import SOAP_MAX_BYTES, SOAP_MAX_ELEMENTS

MEMBER = (
    '<Member xsi:type="PassportMember"><MembershipId>{role}/{i:08x}-0000-4000-8000-{i:012x}'
    "</MembershipId><Type>Passport</Type><State>Accepted</State><Deleted>false</Deleted>"
    "<LastChanged>2024-01-01T00:00:00Z</LastChanged><JoinedDate>2024-01-01T00:00:00Z"
    "</JoinedDate><ExpirationDate>0001-01-01T00:00:00</ExpirationDate><Changes />"
    "<PassportName>user{i}@example.com</PassportName><IsPassportNameHidden>false"
    "</IsPassportNameHidden><PassportId>0</PassportId><CID>{i}</CID><PassportChanges />"
    "</Member>"
)

#: The limits SOAP answers are parsed with (bridge.msnp.soap).
LIMITS = {"max_bytes": SOAP_MAX_BYTES, "max_elements": SOAP_MAX_ELEMENTS}


def find_membership_answer(contacts: int) -> bytes:
    """Every contact in the Allow and Reverse roles, as a server answers a full request."""
    roles = "".join(
        f"<Membership><MemberRole>{role}</MemberRole><Members>"
        + "".join(MEMBER.format(role=role, i=i) for i in range(contacts))
        + "</Members><MembershipIsComplete>true</MembershipIsComplete></Membership>"
        for role in ("Allow", "Reverse")
    )
    ns = "http://www.msn.com/webservices/AddressBook"
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
        '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi='
        '"http://www.w3.org/2001/XMLSchema-instance"><soap:Header><ServiceHeader '
        f'xmlns="{ns}"><Version>15.01.1408.0000</Version></ServiceHeader></soap:Header>'
        f'<soap:Body><FindMembershipResponse xmlns="{ns}"><FindMembershipResult><Services>'
        f"<Service><Memberships>{roles}</Memberships><Info><Handle><Id>1</Id><Type>Messenger"
        "</Type><ForeignId /></Handle><InverseRequired>false</InverseRequired></Info><Changes />"
        "<LastChange>2024-01-01T00:00:00Z</LastChange><Deleted>false</Deleted></Service>"
        "</Services><OwnerNamespace><Info><Handle><Id>00000000-0000-0000-0000-000000000000</Id>"
        "</Handle></Info><LastChange>2024-01-01T00:00:00Z</LastChange></OwnerNamespace>"
        "</FindMembershipResult></FindMembershipResponse></soap:Body></soap:Envelope>"
    ).encode()


def best_us(repeat: int, run: Callable[[], object]) -> float:
    """:func:`msnp13_parsers.best` in microseconds."""
    return best(repeat, run) * 1e6


def streamed_route() -> AbstractContextManager[object]:
    """While in effect, ``parse_xml`` takes the streamed route for every document (the route
    every document took before the built one); entered once around a timing, not per call."""
    return mock.patch.object(xmlsafe, "_plain", return_value=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    documents: list[tuple[str, bytes, Callable[[bytes], object]]] = []
    for contacts in (20, 1000):
        documents.append((f"ABFindAll, {contacts}", find_all_answer(contacts), parse_find_all))
        documents.append(
            (
                f"FindMembership, {contacts}",
                find_membership_answer(contacts),
                parse_find_membership,
            )
        )
        # the MSNP18 circles lookup: the address book again, its contacts and groups skipped
        documents.append((f"circles lookup, {contacts}", own_book_answer(contacts), parse_circles))
    print(
        f"{'answer, contacts':<22} {'KB':>6} {'elements':>9} {'built us':>9} {'streamed us':>12}"
        f" {'ratio':>6} {'C tree us':>10} {'whole answer us (built / streamed)':>36}"
    )
    for label, data, whole in documents:
        assert xmlsafe._plain(data)
        tree, answer = xmlsafe.parse_xml(data, **LIMITS), whole(data)
        with streamed_route():
            assert tree == xmlsafe.parse_xml(data, **LIMITS), label
            assert answer == whole(data), label
        elements = sum(1 for _ in tree.iter())

        def parse(data: bytes = data) -> object:
            return xmlsafe.parse_xml(data, **LIMITS)

        def parse_whole(data: bytes = data, whole: Callable[[bytes], object] = whole) -> object:
            return whole(data)

        built_us, whole_built = best_us(args.repeat, parse), best_us(args.repeat, parse_whole)
        with streamed_route():
            streamed_us = best_us(args.repeat, parse)
            whole_streamed = best_us(args.repeat, parse_whole)
        floor_us = best_us(args.repeat, lambda data=data: ET.fromstring(data))
        print(
            f"{label:<22} {len(data) / 1024:>6.1f} {elements:>9} {built_us:>9.0f}"
            f" {streamed_us:>12.0f} {built_us / streamed_us:>6.2f} {floor_us:>10.0f}"
            f" {whole_built:>17.0f} / {whole_streamed:<8.0f} ({whole_built / whole_streamed:.2f})"
        )
    print("(ratio: built / streamed; below 1 means the built route is cheaper)")


if __name__ == "__main__":
    main()

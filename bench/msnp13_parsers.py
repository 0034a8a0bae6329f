"""Cost of the MSNP13+ web-service parsers on real-sized and hostile input.

Run with ``python bench/msnp13_parsers.py [--repeat N]``. It prints, best of ``--repeat``:

* ``ABFindAll`` answers of 250...8000 contacts through :func:`parse_find_all`: milliseconds,
  microseconds per contact (flat means linear) and peak memory; the baseline, measured in the
  same run on the same bytes, is ``xml.etree.ElementTree.fromstring`` (which builds a tree and
  extracts nothing);
* hostile documents of about 4 MB (deep nesting, a million empty elements, one huge text node,
  an element with thousands of attributes, a billion-laughs DTD) through the bounded parser:
  time to accept or refuse, and the outcome;
* splitting 1000...8000 contacts into 7500-byte ADL payloads, and the MBI key computation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import argparse
import sys
import time
import tracemalloc
import xml.etree.ElementTree as ET

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.addressbook import parse_find_all
from bridge.msnp.adl import ListEntry, build_ml
from bridge.msnp.errors import ProtocolError
from bridge.msnp.mbi_key import mbi_key_response
from bridge.msnp.oim import parse_oim_message
from bridge.msnp.soap import SOAP_MAX_BYTES, SOAP_MAX_ELEMENTS
from bridge.msnp.values import Lists
from bridge.msnp.xmlsafe import parse_xml

CONTACT = (
    "<Contact><contactId>{i:08x}-0000-4000-8000-{i:012x}</contactId><contactInfo>"
    "<annotations><Annotation><Name>AB.NickName</Name><Value>Nick {i}</Value></Annotation>"
    "</annotations><contactType>Regular</contactType><quickName>Q{i}</quickName>"
    "<passportName>user{i}@example{d}.com</passportName><IsPassportNameHidden>false"
    "</IsPassportNameHidden><displayName>Display &amp; name {i}</displayName><puid>0</puid>"
    "<groupIds><guid>11111111-2222-3333-4444-55555555555{g}</guid></groupIds>"
    "<CID>{i}</CID><IsNotMobileVisible>false</IsNotMobileVisible><isMobileIMEnabled>false"
    "</isMobileIMEnabled><isMessengerUser>true</isMessengerUser><isFavorite>false</isFavorite>"
    "<isSmtp>false</isSmtp><hasSpace>false</hasSpace><spotWatchState>NoDevice</spotWatchState>"
    "<birthdate>0001-01-01T00:00:00</birthdate><primaryEmailType>ContactEmailPersonal"
    "</primaryEmailType><PrimaryLocation>ContactLocationPersonal</PrimaryLocation>"
    "<PrimaryPhone>ContactPhonePersonal</PrimaryPhone><IsPrivate>false</IsPrivate>"
    "<Gender>Unspecified</Gender><TimeZone>None</TimeZone></contactInfo><propertiesChanged/>"
    "<fDeleted>false</fDeleted><lastChange>2024-01-01T00:00:00Z</lastChange></Contact>"
)


def find_all_answer(contacts: int) -> bytes:
    body = "".join(CONTACT.format(i=i, d=i % 13, g=i % 10) for i in range(contacts))
    groups = "".join(
        f"<Group><groupId>11111111-2222-3333-4444-55555555555{g}</groupId><groupInfo>"
        f"<name>Group {g}</name></groupInfo><fDeleted>false</fDeleted></Group>"
        for g in range(10)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><ServiceHeader '
        'xmlns="http://www.msn.com/webservices/AddressBook"><CacheKey>12r1:x</CacheKey>'
        "</ServiceHeader></soap:Header><soap:Body><ABFindAllResponse "
        'xmlns="http://www.msn.com/webservices/AddressBook"><ABFindAllResult>'
        f"<groups>{groups}</groups><contacts>{body}</contacts><ab><lastChange>"
        "2024-01-01T00:00:00Z</lastChange></ab></ABFindAllResult></ABFindAllResponse>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory(run: Callable[[], object]) -> int:
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def outcome(run: Callable[[], object]) -> str:
    try:
        result = run()
    except ProtocolError as e:
        return f"refused: {e}"
    return f"refused: {result}" if isinstance(result, ProtocolError) else "accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("ABFindAll answers (parse_find_all vs ElementTree.fromstring baseline)")
    print(
        f"{'contacts':>9} {'KB':>7} {'ms':>8} {'us/contact':>11} {'ET ms':>8} {'ratio':>6}"
        f" {'peak MB':>8}"
    )
    for contacts in (250, 500, 1000, 2000, 4000, 8000):
        data = find_all_answer(contacts)
        refused = outcome(lambda data=data: parse_find_all(data))
        if refused != "accepted":
            print(f"{contacts:>9} {len(data) / 1024:>7.0f}  {refused}")
            continue
        ours = best(args.repeat, lambda data=data: parse_find_all(data))
        base = best(args.repeat, lambda data=data: ET.fromstring(data))
        peak = peak_memory(lambda data=data: parse_find_all(data))
        book = parse_find_all(data)
        assert len(book.contacts) == contacts
        print(
            f"{contacts:>9} {len(data) / 1024:>7.0f} {ours * 1000:>8.1f} "
            f"{ours / contacts * 1e6:>11.1f} {base * 1000:>8.1f} {ours / base:>6.2f} "
            f"{peak / 2**20:>8.1f}"
        )

    size = 4 << 20
    hostile = {
        "deep nesting": b"<a>" * (size // 7) + b"</a>" * (size // 7),
        "1M empty elements": b"<a>" + b"<b/>" * (size // 4) + b"</a>",
        "one 4 MB text": b"<a>" + b"x" * size + b"</a>",
        "10k attributes": b"<a " + b" ".join(b'a%d="v"' % i for i in range(10_000)) + b"/>",
        "billion laughs": b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
            for i in range(9)
        )
        + b"]><l>&j;</l>",
    }
    print(f"\nHostile documents (limits: {SOAP_MAX_BYTES >> 20} MB, {SOAP_MAX_ELEMENTS} elements)")
    for name, document in hostile.items():

        def run(document: bytes = document) -> object:
            try:
                return parse_xml(
                    document, max_bytes=SOAP_MAX_BYTES, max_elements=SOAP_MAX_ELEMENTS
                )
            except ProtocolError as e:
                return e

        seconds = best(args.repeat, run)
        print(
            f"  {name:<18} {len(document) / 1024:>7.0f} KB {seconds * 1000:>8.1f} ms  {outcome(run)}"
        )

    folded = "From: a@b.c\nX-Long: x" + "\n\tyy" * 64_000 + "\n\nhi"
    seconds = best(args.repeat, lambda: parse_oim_message("m", folded))
    print(
        f"  {'OIM header folded 64k times':<18} {len(folded) / 1024:>5.0f} KB {seconds * 1000:>8.1f} ms"
    )

    print("\nADL splitting (7500-byte payloads)")
    for contacts in (1000, 2000, 4000, 8000):
        entries = [
            ListEntry(f"user{i}@example{i % 13}.com", Lists.FORWARD | Lists.ALLOW)
            for i in range(contacts)
        ]
        seconds = best(args.repeat, lambda entries=entries: build_ml(entries, initial=True))
        count = len(build_ml(entries, initial=True))
        print(
            f"  {contacts:>5} contacts: {count:>3} payloads, {seconds * 1000:>6.1f} ms,"
            f" {seconds / contacts * 1e6:.2f} us/contact"
        )

    nonce = "A" * 64
    seconds = best(
        args.repeat * 20, lambda: mbi_key_response("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", nonce)
    )
    print(f"\nMBI key: {seconds * 1e6:.0f} us")


if __name__ == "__main__":
    main()

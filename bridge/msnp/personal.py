"""Personal-message XML (``UBX`` from the server, ``UUX`` from us): read and write in linear time.

The payload looks like ``<Data><PSM>text</PSM><CurrentMedia>...</CurrentMedia>...</Data>``.
A field's value is everything between its first opening tag and the first closing tag after it
(nested or unclosed tags are text), XML entities decoded. Each tag is found with one forward
search, so no input costs more than linear time — a lazy ``<PSM>(.*?)</PSM>`` regex rescans the
rest of the payload from every ``<PSM>`` and takes seconds on 16,000 unclosed tags.
"""

from __future__ import annotations

from typing import Final
from xml.sax.saxutils import escape as xml_escape
import html
import re

__all__ = ["MAX_UBX_PAYLOAD", "build_personal_message", "parse_personal_message", "xml_field"]

#: Real clients send a few hundred bytes (a 129-character PSM, the media string, a machine GUID);
#: larger UBX payloads are dropped unread.
MAX_UBX_PAYLOAD: Final = 8 * 1024

_OPEN: dict[str, re.Pattern[str]] = {}
_CLOSE: dict[str, re.Pattern[str]] = {}


def _patterns(tag: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    opening = _OPEN.get(tag)
    closing = _CLOSE.get(tag)
    if opening is None or closing is None:
        # no nested quantifiers: every match attempt scans only the white space after one tag
        opening = _OPEN[tag] = re.compile(rf"<{re.escape(tag)}\s*>", re.IGNORECASE)
        closing = _CLOSE[tag] = re.compile(rf"</{re.escape(tag)}\s*>", re.IGNORECASE)
    return opening, closing


def xml_field(xml: str, tag: str) -> str:
    """The entity-decoded text between the first ``<tag>`` and the next ``</tag>`` ('' if none)."""
    opening, closing = _patterns(tag)
    start = opening.search(xml)
    if start is None:
        return ""
    end = closing.search(xml, start.end())
    if end is None:
        return ""
    return html.unescape(xml[start.end() : end.start()])


def parse_personal_message(payload: bytes) -> tuple[str, str]:
    """(personal message, current media) of a ``UBX`` payload."""
    xml = payload.decode("utf-8", errors="replace")
    return xml_field(xml, "PSM"), xml_field(xml, "CurrentMedia")


def build_personal_message(text: str, current_media: str = "") -> bytes:
    """The ``UUX`` payload setting our personal message."""
    return (
        f"<Data><PSM>{xml_escape(text)}</PSM>"
        f"<CurrentMedia>{xml_escape(current_media)}</CurrentMedia></Data>"
    ).encode()

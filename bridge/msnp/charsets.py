"""Which declared charsets a message body is decoded with: a short list of known ones.

A ``Content-Type: ...; charset=`` parameter comes from the remote side. Python registers codecs
that are slow on hostile input (``punycode`` and ``idna`` are quadratic, ``utf-7`` has its own
state machine) or that are not text encodings at all (``rot13``, ``undefined``, ``zlib`` through
aliases). Only the text encodings MSN clients actually declared are honoured — all of them
decode in linear time —; any other name is read as UTF-8, as unusable names always were.
"""

from __future__ import annotations

from typing import Final
import codecs
import encodings.aliases
import importlib
import re

__all__ = ["KNOWN_CHARSETS", "codec_for", "decode_text"]

#: Canonical Python codec names of the charsets MSN clients declare (Windows code pages and their
#: ISO/EUC/DBCS relatives, the Unicode forms).
KNOWN_CHARSETS: Final = frozenset(
    {
        "utf_8",
        "utf_8_sig",
        "utf_16",
        "utf_16_le",
        "utf_16_be",
        "ascii",
        "latin_1",
        *(f"iso8859_{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
        *(f"cp{n}" for n in (874, 932, 936, 949, 950, 1250, 1251, 1252, 1253, 1254, 1255)),
        "cp1256",
        "cp1257",
        "cp1258",
        "cp437",
        "cp850",
        "cp866",
        "koi8_r",
        "koi8_u",
        "shift_jis",
        "euc_jp",
        "iso2022_jp",
        "euc_kr",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
        "big5hkscs",
        "tis_620",
    }
)

#: Longer charset names than this are not looked at.
MAX_NAME: Final = 40

_PUNCT = re.compile(r"[^0-9a-z.]+")


def _normalize(name: str) -> str:
    """Like :func:`encodings.normalize_encoding` (ASCII only, lower-cased)."""
    return _PUNCT.sub("_", name.lower()).strip("_").replace(".", "_")


def _build_table() -> dict[str, str]:
    table = {name: name for name in KNOWN_CHARSETS}
    for alias, codec in encodings.aliases.aliases.items():
        if codec in KNOWN_CHARSETS:
            table[_normalize(alias)] = codec
    # spellings seen on the wire that Python's alias table lacks
    table.update({"utf8": "utf_8", "unicode_1_1_utf_8": "utf_8", "x_sjis": "shift_jis"})
    table.update({"windows_874": "cp874", "x_euc_jp": "euc_jp", "ks_c_5601_1987": "cp949"})
    return table


_TABLE: Final = _build_table()


def _single_byte_tables() -> dict[str, str]:
    """Decoding tables of the single-byte codecs with U+FFFD for the undefined bytes: decoding
    with them never calls an error handler (which costs ~0.4 us a byte on all-invalid input)."""
    tables: dict[str, str] = {}
    for codec in KNOWN_CHARSETS:
        try:
            module = importlib.import_module(f"encodings.{codec}")
        except ImportError:
            continue
        table = getattr(module, "decoding_table", None)
        if isinstance(table, str) and len(table) == 256:
            tables[codec] = table.replace("\ufffe", "\ufffd")
    return tables


_SINGLE_BYTE: Final = _single_byte_tables()


def codec_for(charset: str) -> str | None:
    """The codec name for a declared charset, or None when it is not on the known list."""
    if not charset or len(charset) > MAX_NAME:
        return None
    return _TABLE.get(_normalize(charset.strip().strip("\"'")))


def decode_text(data: bytes, charset: str) -> str:
    """``data`` decoded with ``charset`` when it is a known one, else as UTF-8 (never raises)."""
    codec = codec_for(charset) or "utf_8"
    table = _SINGLE_BYTE.get(codec)
    try:
        if table is not None:
            return codecs.charmap_decode(data, "strict", table)[0]
        return data.decode(codec, errors="replace")
    except (LookupError, UnicodeError):
        return data.decode("utf-8", errors="replace")

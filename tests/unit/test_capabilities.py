"""Client capability flags: the MSNC version nibble and the feature bits."""

from __future__ import annotations

import pytest

from bridge.msnp.capabilities import (
    MSNC_MASK,
    ClientCapabilities as Caps,
    msnc_version,
    parse_capabilities,
    supports_chunking,
    supports_p2p,
    with_msnc,
)


@pytest.mark.parametrize(
    ("value", "version", "p2p", "chunking"),
    [
        (0, 0, False, False),
        (0x20, 0, False, True),  # multi-packet only: no MSNSLP
        (0x10000000, 1, True, False),  # MSN Messenger 6.0
        (0x50000020, 5, True, True),  # what the client advertised before P2P existed
        (0x40018024, 4, True, True),  # Messenger 7.0 with winks, ink GIF
        (0xA0000000, 10, True, False),
    ],
)
def test_version_and_features(value: int, version: int, p2p: bool, chunking: bool) -> None:
    assert msnc_version(value) == version
    assert supports_p2p(value) is p2p
    assert supports_chunking(value) is chunking


def test_members_are_the_documented_values() -> None:
    assert Caps.INK_GIF == 0x4 and Caps.INK_ISF == 0x8 and Caps.MULTI_PACKET == 0x20
    assert Caps.WINKS == 0x8000 and Caps.VOICE_CLIPS == 0x40000
    assert [int(getattr(Caps, f"MSNC{n}")) for n in range(1, 8)] == [n << 28 for n in range(1, 8)]
    assert Caps.MSNC5 & MSNC_MASK == Caps.MSNC5


def test_with_msnc_replaces_only_the_version() -> None:
    caps = Caps.MULTI_PACKET | Caps.INK_GIF | Caps.MSNC7
    lowered = with_msnc(caps, 1)
    assert msnc_version(lowered) == 1
    assert lowered & ~MSNC_MASK == Caps.MULTI_PACKET | Caps.INK_GIF
    assert with_msnc(caps, 0) == Caps.MULTI_PACKET | Caps.INK_GIF
    with pytest.raises(ValueError):
        with_msnc(0, 16)


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("1342177312", 0x50000020),
        ("2789003324:48", 2789003324),  # MSNP16+ basic:extended
        ("4294967295", 0xFFFFFFFF),
        ("4294967296", 0),
        ("-1", 0),
        ("0x50000020", 0),
        ("", 0),
        (None, 0),
        ("9" * 50, 0),
    ],
)
def test_parse_capabilities(token: str | None, value: int) -> None:
    assert parse_capabilities(token) == value

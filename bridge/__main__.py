"""``python -m bridge``: run the Matrix-MSN bridge."""

from __future__ import annotations

from bridge.app import MSNBridge

MSNBridge().run()

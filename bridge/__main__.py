"""``python -m bridge``: run the Matrix-MSN bridge."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from bridge.app import MSNBridge
    except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing has started yet
        print("Interrupted before the bridge started.", file=sys.stderr)
        sys.exit(130)
    MSNBridge().run()


main()

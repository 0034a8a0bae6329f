"""``python -m bridge``: run the Matrix-MSN bridge."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        from bridge.app import MSNBridge
    except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing has started yet
        print("Interrupted before the bridge started.", file=sys.stderr, flush=True)
        os._exit(130)  # at once, as bridge.startup does after an interrupt (see leave_now)
    MSNBridge().run()


main()

"""Loaded at start-up by a Python whose PYTHONPATH has this directory (bench/scale.py puts it
there for the bridge process it measures): with ``MSN_SCALE_PROBE=<file>`` set, installs
:class:`bench._probe.ProcessProbe`, which writes GC pauses and event-loop lag to that file."""

from __future__ import annotations

import os

if os.environ.get("MSN_SCALE_PROBE"):
    from bench._probe import ProcessProbe

    ProcessProbe(os.environ["MSN_SCALE_PROBE"]).install()

"""Named points where a test can make this process die at once (``kill -9`` from inside).

``FAIRWAY_CRASH_AT=convert:7`` kills the process with SIGKILL the 7th time it passes the
``convert`` point; without the variable every point is a no-op costing one dictionary lookup.
The torture tests use it to cut each stage at a random moment and check that a restart
leaves sources untouched, nothing partial under a final name, and exactly one archive.

``FAIRWAY_STALL_AT=validate:2`` makes the process spin in pure Python, for ever, at full CPU
(as a parser on a hostile input does) the 2nd time it passes that point (without a count:
every time): what the per-acquisition time bound stops.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["POINTS", "failpoint"]

#: every point, in pipeline order
POINTS = ("scan", "fingerprint", "convert", "validate", "bag", "catalog")

_lock = threading.Lock()
_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    """Die here if ``FAIRWAY_CRASH_AT`` names this point and its count is reached.

    Spin here for ever if ``FAIRWAY_STALL_AT`` names it.
    """
    stall = os.environ.get("FAIRWAY_STALL_AT")
    if stall:
        point, _, count = stall.partition(":")
        if point == name and (not count or _hit(f"stall:{name}") == int(count)):
            _spin()
    spec = os.environ.get("FAIRWAY_CRASH_AT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    if _hit(name) >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _hit(key: str) -> int:
    """Count one more pass at ``key``; the count so far."""
    with _lock:
        _hits[key] = _hits.get(key, 0) + 1
        return _hits[key]


def _spin() -> None:
    """Busy pure-Python work that never ends (and never sleeps or waits)."""
    total = 0
    while True:
        for i in range(10_000):
            total = (total + i * i) % 1_000_003

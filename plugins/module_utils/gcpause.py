"""``paused_gc()``: Python's cyclic garbage collector paused around allocation-heavy work without cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is switched back on at its end only if it was on
    at its start (so the blocks nest).

    The parser, the correlator and the policy allocate many small objects (tuples, lists, dicts) and free
    them by reference counting alone: they build no reference cycles. Left on, the collector would walk every
    object that survives a few hundred allocations at least twice, finding nothing; pausing it for a whole
    scan takes that off the run (a few per cent of ``make bench``'s scan), and reference counting still frees
    everything as before. The command line pauses it for a whole command: after a scan, every object the
    run kept (the policy's records, the state) would otherwise be walked again by the collections that
    writing the report (thousands of offenders as JSON) sets off.

    Only entry points pause it (the command line, ``api.scan``, each cycle of the follow daemon, the fleet
    merge): the layers below them (pipeline, correlator, tracker) never switch it themselves.
    """
    was_on = gc.isenabled()
    if was_on:
        gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()

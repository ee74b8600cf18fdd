"""How the long-running processes (``serve``, ``worker``, ``smsc-sim``) run: their
event loop and their garbage collector.

uvloop: the delivery path is a stream of small socket writes and reads, callbacks
and futures, which is where uvloop's C loop saves most (the worker spent about 40 %
of its running time in asyncio's own Python code).

The garbage collector: a busy worker makes and drops many short-lived objects (PDUs,
futures, result records) that reference counting frees anyway, but each 700
allocations start a young collection and every tenth of those an older one, and the
full collections walk everything the imports made: 15 % of the worker's CPU, with
full collections of about 80 ms showing up as latency. ``settle_gc`` moves what
start-up made out of the collector's sight (``gc.freeze``) and makes young
collections rarer. Cycles are still collected.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

#: Allocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run: uvloop where it is installed (``auto``, ``uvloop``) or
    asyncio's own (``asyncio``, or uvloop missing under ``auto``)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def settle_gc() -> None:
    """Call once start-up is done (imports, configuration, first connections)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)

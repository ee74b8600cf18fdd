"""The one way the tests wait for something to happen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def until(
    check: Callable[[], object],
    what: str | Callable[[], str] = "the condition",
    *,
    timeout: float = 15.0,
    every: float = 0.01,
) -> Any:
    """Call ``check`` (plain or async) until it returns something truthy, and return
    that; fail naming ``what`` (or what it returns then: say, a peer's log) and the
    last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not reached in {timeout} s: {said} (last: {last!r})")
        await asyncio.sleep(every)

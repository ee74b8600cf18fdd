"""A transport the test scripts: the worker's fake carrier, beside the real ones
(the SMSC simulator, Net::SMPP, Kannel) that the integration tests use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jooksms.transports.base import OutgoingSms, SubmitResult


class ScriptedTransport:
    """Answers each submit as ``script`` says, and remembers what it was given."""

    def __init__(self, script: Callable[[OutgoingSms], SubmitResult]) -> None:
        self.script = script
        self.sent: list[OutgoingSms] = []

    async def start(self) -> None:
        return None

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        self.sent.append(message)
        await asyncio.sleep(0)
        return self.script(message)

    async def stop(self, timeout: float = 10.0) -> None:
        return None


def ok(message: OutgoingSms) -> SubmitResult:
    """The carrier takes the message, and gives it an id made of ours."""
    return SubmitResult(message.id, (f"c{message.id}",))

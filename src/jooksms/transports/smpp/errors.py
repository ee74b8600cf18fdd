"""The one error of the SMPP codec.

Every malformed input, and every value that cannot be put on the wire, raises
:class:`PduError` rather than an ``IndexError`` or ``struct.error``, so the session
has one thing to catch and knows what to answer: ``status`` is the command_status
for the response (or generic_nack), ``fatal`` says the byte stream cannot be trusted
any more and the connection must be closed.
"""

from __future__ import annotations

from .status import CommandStatus, name


class PduError(Exception):
    def __init__(
        self,
        status: CommandStatus,
        message: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(f"{name(status)}: {message}")
        self.status = status
        self.message = message
        #: The header of the offending PDU, when it was readable.
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.fatal = fatal

    def about(self, command_id: int, sequence_number: int) -> PduError:
        """The same error, located at the PDU whose header we could read."""
        return PduError(
            self.status,
            self.message,
            command_id=command_id,
            sequence_number=sequence_number,
            fatal=self.fatal,
        )

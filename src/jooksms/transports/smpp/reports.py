"""SMPP's receipts and incoming SMS as every transport reports them: the neutral
types of ``transports.base``, stamped with the connector they came on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from jooksms.transports.base import DeliveryReport, IncomingSms
from jooksms.transports.smpp.receipt import Receipt, ReceiptState, message_id_key

ReportHandler = Callable[[DeliveryReport], Awaitable[None]]
IncomingHandler = Callable[[IncomingSms], Awaitable[None]]


def report_of(connector: str, receipt: Receipt) -> DeliveryReport | None:
    """The report a final receipt makes; None for a step on the way (ENROUTE, ACCEPTD)."""
    if not receipt.state.is_final:
        return None
    return DeliveryReport(
        connector,
        message_id_key(receipt.message_id),
        delivered=receipt.state is ReceiptState.DELIVRD,
        error_code=receipt.error_code,
    )


def receipts_to(connector: str, on_report: ReportHandler) -> Callable[[Receipt], Awaitable[None]]:
    """An ``on_receipt`` for :class:`SmppClient` that passes each final receipt on as
    a report. It returns once ``on_report`` has, so the SMSC hears the receipt was
    taken only when it is stored."""

    async def on_receipt(receipt: Receipt) -> None:
        report = report_of(connector, receipt)
        if report is not None:
            await on_report(report)

    return on_receipt


def incoming_to(connector: str, on_incoming: IncomingHandler) -> IncomingHandler:
    """An ``on_incoming`` that names the connector the SMS came on."""

    async def named(sms: IncomingSms) -> None:
        await on_incoming(replace(sms, connector=connector))

    return named

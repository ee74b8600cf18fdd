"""SMPP receipts and incoming SMS become the neutral reports every transport gives."""

from __future__ import annotations

from jooksms.transports.base import DeliveryReport, IncomingSms
from jooksms.transports.smpp.receipt import Receipt, ReceiptState
from jooksms.transports.smpp.reports import incoming_to, receipts_to, report_of


def test_final_receipts_become_reports_in_the_key_form() -> None:
    delivered = report_of("c1", Receipt("000012345", ReceiptState.DELIVRD))
    assert delivered == DeliveryReport("c1", "12345", delivered=True)
    undelivered = report_of("c1", Receipt("ab12", ReceiptState.UNDELIV, error_code="005"))
    assert undelivered == DeliveryReport("c1", "ab12", delivered=False, error_code="005")
    for state in (ReceiptState.EXPIRED, ReceiptState.REJECTD, ReceiptState.DELETED):
        report = report_of("c1", Receipt("1", state))
        assert report is not None and not report.delivered


def test_steps_on_the_way_are_not_reported() -> None:
    for state in (ReceiptState.ENROUTE, ReceiptState.ACCEPTD):
        assert report_of("c1", Receipt("1", state)) is None


async def test_the_callbacks_name_the_connector_and_skip_steps() -> None:
    reports: list[DeliveryReport] = []
    incoming: list[IncomingSms] = []

    async def on_report(report: DeliveryReport) -> None:
        reports.append(report)

    async def on_incoming(sms: IncomingSms) -> None:
        incoming.append(sms)

    on_receipt = receipts_to("carrier-a", on_report)
    await on_receipt(Receipt("7", ReceiptState.ENROUTE))
    await on_receipt(Receipt("07", ReceiptState.DELIVRD))
    await incoming_to("carrier-a", on_incoming)(IncomingSms("+50760000001", "+50760000002", "hi"))
    assert reports == [DeliveryReport("carrier-a", "7", delivered=True)]
    assert incoming == [IncomingSms("+50760000001", "+50760000002", "hi", "carrier-a")]

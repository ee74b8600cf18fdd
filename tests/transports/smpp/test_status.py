from __future__ import annotations

import pytest

from jooksms.transports.smpp.status import (
    DESCRIPTIONS,
    CommandStatus,
    StatusKind,
    describe,
    kind,
    name,
)

S = CommandStatus


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.ESME_ROK, "ok"),
        # Slow down and resend: the SMSC refused the rate, not the message.
        (S.ESME_RTHROTTLED, "throttled"),
        # Nothing wrong with the message: retry, possibly after a rebind. A full queue
        # is that message's (often its destination's), not the session's rate.
        (S.ESME_RMSGQFUL, "transient"),
        (S.ESME_RSYSERR, "transient"),
        (S.ESME_RX_T_APPN, "transient"),
        (S.ESME_RUNKNOWNERR, "transient"),
        (S.ESME_RSUBMITFAIL, "transient"),
        (S.ESME_RDELIVERYFAILURE, "transient"),
        (S.ESME_RINVBNDSTS, "transient"),
        (S.ESME_RALYBND, "transient"),
        # Unknown and vendor-specific codes: we cannot tell, so retry a bounded number.
        (0x00000400, "transient"),
        (0x000004FF, "transient"),
        (0x00000009, "transient"),
        (0x12345678, "transient"),
        # The message or the credentials are wrong: the same bytes get the same answer.
        (S.ESME_RINVSRCADR, "permanent"),
        (S.ESME_RINVDSTADR, "permanent"),
        (S.ESME_RINVMSGLEN, "permanent"),
        (S.ESME_RINVESMCLASS, "permanent"),
        (S.ESME_RINVDSTTON, "permanent"),
        (S.ESME_RINVDSTNPI, "permanent"),
        (S.ESME_RINVSCHED, "permanent"),
        (S.ESME_RINVEXPIRY, "permanent"),
        (S.ESME_RINVREGDLVFLG, "permanent"),
        (S.ESME_RINVSERTYP, "permanent"),
        (S.ESME_RINVOPTPARAMVAL, "permanent"),
        (S.ESME_RMISSINGOPTPARAM, "permanent"),
        (S.ESME_RX_P_APPN, "permanent"),
        (S.ESME_RX_R_APPN, "permanent"),
        (S.ESME_RBINDFAIL, "permanent"),
        (S.ESME_RINVPASWD, "permanent"),
        (S.ESME_RINVSYSID, "permanent"),
        (S.ESME_RINVCMDID, "permanent"),
        (S.ESME_RINVCMDLEN, "permanent"),
    ],
)
def test_kind(status: int, expected: StatusKind) -> None:
    assert kind(status) == expected


def test_codes_match_the_spec() -> None:
    assert S.ESME_RINVMSGLEN.value == 0x01
    assert S.ESME_RSYSERR.value == 0x08
    assert S.ESME_RINVSRCADR.value == 0x0A
    assert S.ESME_RMSGQFUL.value == 0x14
    assert S.ESME_RTHROTTLED.value == 0x58
    assert S.ESME_RX_T_APPN.value == 0x64
    assert S.ESME_RINVOPTPARSTREAM.value == 0xC0
    assert S.ESME_RUNKNOWNERR.value == 0xFF


def test_every_status_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(CommandStatus)
    assert len(set(DESCRIPTIONS.values())) == len(CommandStatus)


def test_describe() -> None:
    assert describe(0x58) == "Throttling error (ESME has exceeded allowed message limits)"
    assert describe(0x401) == "SMSC vendor specific error 0x00000401"
    assert describe(0x09) == "Reserved or unknown error 0x00000009"


def test_name() -> None:
    assert name(0x0B) == "ESME_RINVDSTADR"
    assert name(0x450) == "0x00000450"

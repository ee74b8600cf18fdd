"""SMPP 3.4 command statuses (section 5.1.3), what each means, and what to do about it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

StatusKind = Literal["ok", "transient", "throttled", "permanent"]


class CommandStatus(enum.IntEnum):
    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


_S = CommandStatus

DESCRIPTIONS: Final[Mapping[CommandStatus, str]] = MappingProxyType(
    {
        _S.ESME_ROK: "No error",
        _S.ESME_RINVMSGLEN: "Message length is invalid",
        _S.ESME_RINVCMDLEN: "Command length is invalid",
        _S.ESME_RINVCMDID: "Invalid command ID",
        _S.ESME_RINVBNDSTS: "Incorrect bind status for given command",
        _S.ESME_RALYBND: "ESME already in bound state",
        _S.ESME_RINVPRTFLG: "Invalid priority flag",
        _S.ESME_RINVREGDLVFLG: "Invalid registered delivery flag",
        _S.ESME_RSYSERR: "System error",
        _S.ESME_RINVSRCADR: "Invalid source address",
        _S.ESME_RINVDSTADR: "Invalid destination address",
        _S.ESME_RINVMSGID: "Message ID is invalid",
        _S.ESME_RBINDFAIL: "Bind failed",
        _S.ESME_RINVPASWD: "Invalid password",
        _S.ESME_RINVSYSID: "Invalid system ID",
        _S.ESME_RCANCELFAIL: "Cancel SM failed",
        _S.ESME_RREPLACEFAIL: "Replace SM failed",
        _S.ESME_RMSGQFUL: "Message queue full",
        _S.ESME_RINVSERTYP: "Invalid service type",
        _S.ESME_RINVNUMDESTS: "Invalid number of destinations",
        _S.ESME_RINVDLNAME: "Invalid distribution list name",
        _S.ESME_RINVDESTFLAG: "Destination flag is invalid (submit_multi)",
        _S.ESME_RINVSUBREP: "Invalid submit with replace request",
        _S.ESME_RINVESMCLASS: "Invalid esm_class field data",
        _S.ESME_RCNTSUBDL: "Cannot submit to distribution list",
        _S.ESME_RSUBMITFAIL: "submit_sm or submit_multi failed",
        _S.ESME_RINVSRCTON: "Invalid source address TON",
        _S.ESME_RINVSRCNPI: "Invalid source address NPI",
        _S.ESME_RINVDSTTON: "Invalid destination address TON",
        _S.ESME_RINVDSTNPI: "Invalid destination address NPI",
        _S.ESME_RINVSYSTYP: "Invalid system_type field",
        _S.ESME_RINVREPFLAG: "Invalid replace_if_present flag",
        _S.ESME_RINVNUMMSGS: "Invalid number of messages",
        _S.ESME_RTHROTTLED: "Throttling error (ESME has exceeded allowed message limits)",
        _S.ESME_RINVSCHED: "Invalid scheduled delivery time",
        _S.ESME_RINVEXPIRY: "Invalid message validity period (expiry time)",
        _S.ESME_RINVDFTMSGID: "Predefined message invalid or not found",
        _S.ESME_RX_T_APPN: "ESME receiver temporary app error code",
        _S.ESME_RX_P_APPN: "ESME receiver permanent app error code",
        _S.ESME_RX_R_APPN: "ESME receiver reject message error code",
        _S.ESME_RQUERYFAIL: "query_sm request failed",
        _S.ESME_RINVOPTPARSTREAM: "Error in the optional part of the PDU body",
        _S.ESME_ROPTPARNOTALLWD: "Optional parameter not allowed",
        _S.ESME_RINVPARLEN: "Invalid parameter length",
        _S.ESME_RMISSINGOPTPARAM: "Expected optional parameter missing",
        _S.ESME_RINVOPTPARAMVAL: "Invalid optional parameter value",
        _S.ESME_RDELIVERYFAILURE: "Delivery failure (used for data_sm_resp)",
        _S.ESME_RUNKNOWNERR: "Unknown error",
    }
)

_KNOWN: Final = frozenset(int(s) for s in CommandStatus)
# The spec reserves this range for SMSC vendors; each carrier documents its own meanings.
_VENDOR_RANGE: Final = range(0x400, 0x500)

# Why each group is where it is:
# - throttled: the SMSC accepted nothing and asks us to slow down; the message is fine,
#   so the engine should shrink its window or pause the bind, then resend it. Only
#   ESME_RTHROTTLED says that: it is about the session's rate (Kannel sleeps the
#   connection on it and on nothing else).
# - transient: the SMSC or the ESME application failed for reasons unrelated to the
#   message's content (a system error, a temporary application error, a bind in the
#   wrong state), so the same message may succeed on a retry, possibly after a rebind.
#   ESME_RMSGQFUL is here, not with throttling: a full queue is often one
#   destination's (a handset that is off), so it concerns that message, which is
#   retried later, and slowing the whole session for it stalls every other message
#   (Kannel and Jasmin both requeue the message and keep the session going).
#   Unknown and vendor codes land here too: we cannot tell what they mean, and
#   wrongly failing a message forever costs more than a bounded number of retries.
# - permanent: everything else the spec defines says the message or the credentials
#   are wrong (addresses, lengths, flags, TLVs, password); resending the same bytes
#   would get the same answer.
_THROTTLED: Final = frozenset({_S.ESME_RTHROTTLED})
_TRANSIENT: Final = frozenset(
    {
        _S.ESME_RMSGQFUL,
        _S.ESME_RSYSERR,
        _S.ESME_RX_T_APPN,
        _S.ESME_RUNKNOWNERR,
        _S.ESME_RSUBMITFAIL,
        _S.ESME_RDELIVERYFAILURE,
        _S.ESME_RINVBNDSTS,
        _S.ESME_RALYBND,
    }
)


def kind(status: int) -> StatusKind:
    """What a sender should do after receiving ``status`` for a request."""
    if status == CommandStatus.ESME_ROK:
        return "ok"
    if status in _THROTTLED:
        return "throttled"
    if status in _TRANSIENT or status not in _KNOWN:
        return "transient"
    return "permanent"


def describe(status: int) -> str:
    """A human sentence for ``status``, including codes the spec does not define."""
    if status in _KNOWN:
        return DESCRIPTIONS[CommandStatus(status)]
    if status in _VENDOR_RANGE:
        return f"SMSC vendor specific error 0x{status:08X}"
    return f"Reserved or unknown error 0x{status:08X}"


def name(status: int) -> str:
    """``ESME_RTHROTTLED`` for a known status, the hex code otherwise (for logs)."""
    if status in _KNOWN:
        return CommandStatus(status).name
    return f"0x{status:08X}"

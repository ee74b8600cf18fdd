"""Hypothesis strategies producing every PDU we implement, with encodable values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from jooksms.transports.smpp import pdu as p
from jooksms.transports.smpp.tlv import Tag, Tlv

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
sequence_numbers = st.integers(1, 0x7FFFFFFF)
# Any Latin-1 character but NUL, which would end a C-Octet String early.
_LATIN1 = st.characters(min_codepoint=1, max_codepoint=0xFF)


def cstrings(size: int) -> st.SearchStrategy[str]:
    """Strings that fit a C-Octet String field of ``size`` octets, NUL included."""
    return st.text(_LATIN1, max_size=size - 1)


times = st.one_of(st.just(""), st.text(_LATIN1, min_size=16, max_size=16))
tlvs = st.lists(
    st.one_of(
        st.builds(Tlv.integer, st.just(Tag.USER_MESSAGE_REFERENCE), st.integers(0, 0xFFFF)),
        st.builds(Tlv.integer, st.just(Tag.MESSAGE_STATE), st.integers(1, 8)),
        st.builds(Tlv.string, st.just(Tag.RECEIPTED_MESSAGE_ID), cstrings(65)),
        st.builds(Tlv, st.just(Tag.MESSAGE_PAYLOAD), st.binary(max_size=300)),
        # The range the spec reserves for vendor-specific TLVs: kept as raw octets.
        st.builds(Tlv, st.integers(0x1400, 0x3FFF), st.binary(max_size=64)),
    ),
    max_size=4,
).map(tuple)


def _pdu(cls: type[p.Pdu], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[p.Pdu]:
    return st.builds(cls, sequence_number=sequence_numbers, command_status=u32, **fields)


def _bind(cls: type[p.Bind]) -> st.SearchStrategy[p.Pdu]:
    return _pdu(
        cls,
        system_id=cstrings(16),
        password=cstrings(9),
        system_type=cstrings(13),
        interface_version=u8,
        addr_ton=u8,
        addr_npi=u8,
        address_range=cstrings(41),
    )


def _bind_resp(cls: type[p.BindResp]) -> st.SearchStrategy[p.Pdu]:
    return _pdu(cls, system_id=cstrings(16), tlvs=tlvs)


def _short_message(cls: type[p.SubmitSm | p.DeliverSm]) -> st.SearchStrategy[p.Pdu]:
    return _pdu(
        cls,
        service_type=cstrings(6),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstrings(21),
        dest_addr_ton=u8,
        dest_addr_npi=u8,
        destination_addr=cstrings(21),
        esm_class=u8,
        protocol_id=u8,
        priority_flag=u8,
        schedule_delivery_time=times,
        validity_period=times,
        registered_delivery=u8,
        replace_if_present_flag=u8,
        data_coding=u8,
        sm_default_msg_id=u8,
        short_message=st.binary(max_size=254),
        tlvs=tlvs,
    )


STRATEGIES: dict[type[p.Pdu], st.SearchStrategy[p.Pdu]] = {
    p.BindTransmitter: _bind(p.BindTransmitter),
    p.BindReceiver: _bind(p.BindReceiver),
    p.BindTransceiver: _bind(p.BindTransceiver),
    p.BindTransmitterResp: _bind_resp(p.BindTransmitterResp),
    p.BindReceiverResp: _bind_resp(p.BindReceiverResp),
    p.BindTransceiverResp: _bind_resp(p.BindTransceiverResp),
    p.Outbind: _pdu(p.Outbind, system_id=cstrings(16), password=cstrings(9)),
    p.Unbind: _pdu(p.Unbind),
    p.UnbindResp: _pdu(p.UnbindResp),
    p.EnquireLink: _pdu(p.EnquireLink),
    p.EnquireLinkResp: _pdu(p.EnquireLinkResp),
    p.GenericNack: _pdu(p.GenericNack),
    p.SubmitSm: _short_message(p.SubmitSm),
    p.DeliverSm: _short_message(p.DeliverSm),
    p.SubmitSmResp: _pdu(p.SubmitSmResp, message_id=cstrings(65)),
    p.DeliverSmResp: _pdu(p.DeliverSmResp, message_id=cstrings(65)),
    p.DataSm: _pdu(
        p.DataSm,
        service_type=cstrings(6),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstrings(65),
        dest_addr_ton=u8,
        dest_addr_npi=u8,
        destination_addr=cstrings(65),
        esm_class=u8,
        registered_delivery=u8,
        data_coding=u8,
        tlvs=tlvs,
    ),
    p.DataSmResp: _pdu(p.DataSmResp, message_id=cstrings(65), tlvs=tlvs),
    p.AlertNotification: _pdu(
        p.AlertNotification,
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstrings(65),
        esme_addr_ton=u8,
        esme_addr_npi=u8,
        esme_addr=cstrings(65),
        tlvs=tlvs,
    ),
}

any_pdu = st.one_of(*STRATEGIES.values())

"""SMPP 3.4: a pure codec (PDUs, TLVs, framing), command statuses, concatenation
UDH and delivery receipts. No sockets here; the session and the SMSC simulator
build on these modules."""

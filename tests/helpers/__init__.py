"""What several test modules share: waiting for a condition, accounts with messages
and the queue kept to one test's messages, a scripted transport, live servers and
processes, raw HTTP, a fake Twilio, an SMPP ESME and PDU strategies."""

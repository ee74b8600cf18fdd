"""Outbound webhooks and per-message status callbacks: the event log's consumer that
POSTs events, signed by the Standard Webhooks spec, to the URLs accounts configure.

``fanout`` turns events into deliveries (in the transaction that moves its cursor),
``deliveries`` claims and records them, ``sender`` makes the POSTs, ``dispatcher``
runs both in every ``serve`` and ``worker`` process."""

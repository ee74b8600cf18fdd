"""What wakes a webhook dispatcher on PostgreSQL besides the event log's own NOTIFY
(``jooksms_events``, sent by the triggers): deliveries made due outside its rounds,
by another dispatcher's fan-out or by a replay from the API or the CLI."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from jooksms.db.schema_extras import EVENTS_CHANNEL

CHANNEL = "jooksms_webhooks"
#: Every channel a dispatcher LISTENs on.
CHANNELS = (EVENTS_CHANNEL, CHANNEL)


def announce(session: Session) -> None:
    """Tell every dispatcher, on PostgreSQL, that this transaction makes deliveries
    due. The notice goes out when the transaction commits, and only then."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))

"""Mapped tables. Every tenant-owned table carries ``account_id`` so that each query
is scoped by it (and the schema can later be distributed by account)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jooksms.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only reuses and orders rowids reliably for INTEGER PRIMARY KEY; BigInteger
# there would become a plain column, so ids are BIGINT on PostgreSQL only.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PhoneNumber(Base):
    """A number an account owns and sends from. The lowest id is the account's first."""

    __tablename__ = "phone_numbers"
    __table_args__ = (Index(None, "account_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Unique across accounts: an incoming SMS must map to exactly one owner.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    """An address-book entry. Several contacts may share a number."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index(None, "account_id", "id"),
        Index(None, "account_id", "main_phone"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    main_phone: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    status: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ContactGroup(Base):
    __tablename__ = "contact_groups"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        Index(None, "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactGroupMember(Base):
    __tablename__ = "contact_group_members"
    __table_args__ = (Index(None, "contact_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("contact_groups.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """One SMS, either way. The row is also the delivery queue entry: ``send_at`` is
    when it becomes due, and the partial index below is what workers claim from.
    A message's contact is not stored: it is whoever holds ``number`` when it is read."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(None, "account_id", "id"),
        # Most messages carry no external id; leaving them out keeps bulk inserts cheap.
        Index(
            None,
            "account_id",
            "external_id",
            "id",
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(None, "account_id", "number", "id"),
        Index(None, "account_id", "created_at"),
        Index(
            "ix_messages_due",
            "send_at",
            "id",
            sqlite_where=text("status IN ('queued', 'scheduled')"),
            postgresql_where=text("status IN ('queued', 'scheduled')"),
        ),
        # Messages a worker holds; a lease that runs out means the worker died.
        Index(
            "ix_messages_leased",
            "lease_until",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    external_id: Mapped[int | None] = mapped_column(BigInteger)
    segments: Mapped[int] = mapped_column(SmallInteger)
    encoding: Mapped[str] = mapped_column(String(8))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Delivery: tries so far, the claiming worker's lease, the connector used, and
    # when the message reached each status (created_at is when it was queued).
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connector: Mapped[str | None] = mapped_column(String(64))
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The event log: what happened to messages (and, later, campaigns and monitors),
    in the order consumers are to see it.

    Message events are written by triggers on ``messages`` (migration 0008), in the
    statement that changes the row: there is never an event without its change or a
    change without its event, whichever code path (or operator's SQL) made it. The
    message's other fields are read from its row when the event is read; only what
    changes over a message's life is kept here. On PostgreSQL each event also records
    the id of the transaction that wrote it (``txid``, not modelled here), which is
    the reading order: see ``events.log``."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # No foreign keys: the hot path writes three events per message (see MessagePart).
    account_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    type: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    error_code: Mapped[str | None] = mapped_column(String(32))
    #: JSON, for the events that are not about a message.
    data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventCursor(Base):
    """How far a durable consumer of the event log (the webhook dispatcher) has read.
    ``txid`` is 0 on SQLite."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessagePart(Base):
    """One submitted segment and the id the carrier gave it: a delivery receipt names
    that id, and this is how it finds its message."""

    __tablename__ = "message_parts"
    __table_args__ = (
        # The carrier id leads: a receipt lookup is then a seek per id whatever the
        # planner believes about connectors (led by the connector, PostgreSQL read
        # every part of a connector when its statistics were stale).
        UniqueConstraint("carrier_id", "connector"),
        Index(None, "message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # No foreign keys. Checking the message locked its row (FOR KEY SHARE) for every
    # part stored, and the account's its row, the hot path's busiest; deleting a
    # message deletes its parts by trigger (migration 0005), and the account's
    # messages go with it.
    message_id: Mapped[int] = mapped_column(Id)
    account_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    connector: Mapped[str] = mapped_column(String(64))
    carrier_id: Mapped[str] = mapped_column(String(65))
    seq: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingReceipt(Base):
    """A carrier's final word on a part whose carrier id is not stored yet.

    Carriers may answer the receipt before the submit response, and with several
    workers the receipt can reach one worker while another still holds the submit
    result. Keeping it here, not in a worker's memory, means a crash loses nothing:
    whoever stores the part, or the next sweep, applies it (``delivery.queue``)."""

    __tablename__ = "pending_receipts"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    carrier_id: Mapped[str] = mapped_column(String(65), primary_key=True)
    delivered: Mapped[bool] = mapped_column(Boolean)
    error_code: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectorBucket(Base):
    """A connector's shared token bucket: every worker takes its sending allowance
    from this row, so a connector's rate holds however many workers there are."""

    __tablename__ = "connector_buckets"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    #: Seconds since the epoch when ``tokens`` was last refilled.
    refilled: Mapped[float] = mapped_column(Float)


class Connector(Base):
    """A named carrier connection and the messages it takes (see delivery.routing).
    ``url`` holds the carrier credentials: it is shown only with the password hidden."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    senders: Mapped[str | None] = mapped_column(Text)  # E.164 numbers, comma separated
    prefixes: Mapped[str | None] = mapped_column(Text)  # destination prefixes, comma separated
    rate: Mapped[float | None] = mapped_column(Float)  # messages per second, all workers
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageCount(Base):
    """Per-account message totals, kept in the same transaction as the inserts so that
    a list's ``total`` costs one tiny read instead of a count over millions of rows.
    Writers spread over ``shard`` rows so concurrent inserts do not queue on one lock."""

    __tablename__ = "message_counts"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class IdempotencyKey(Base):
    """A send request's ``Idempotency-Key`` and the answer it got, kept 24 hours, so a
    client retrying it gets that answer again instead of new messages. ``answer`` is
    null only inside the transaction that claims the key and stores the messages."""

    __tablename__ = "idempotency_keys"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: A hash of the request (method, path, body), to tell a retry from a reuse.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebhookEndpoint(Base):
    """An account's outbound webhook: where its events are POSTed (events.webhooks).
    ``event_types`` is a JSON list of types, ``["*"]`` for all of them."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "account_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: Up to 100 events per POST, as ``{"type": "batch", "data": [...]}``.
    batch: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The first failure since the last success: five days of them disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookSecret(Base):
    """A signing secret, sealed (it must sign, so it cannot be hashed). An endpoint's,
    or, with no endpoint, the account's, which signs its status callbacks. During a
    rotation the old one signs too until ``expires_at``."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index(None, "account_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One POST to make: an event (or a batch of up to 100) for an endpoint, or a
    message's event for its status callback (``url`` set, no endpoint). The body is
    stored as it is signed and sent, so every retry sends the same bytes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(None, "account_id", "endpoint_id", "id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    url: Mapped[str | None] = mapped_column(String(2000))
    #: The ``webhook-id`` header: the event id, or ``batch_<first>_<last>``.
    webhook_id: Mapped[str] = mapped_column(String(80))
    event_type: Mapped[str] = mapped_column(String(40))
    first_event_id: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(SmallInteger)
    #: When it is due; while a sender holds it, when that sender's lease runs out.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One POST of a delivery and what came back: the status code or the error, the
    latency and the answer's first 500 bytes."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)


class MessageCallback(Base):
    """A message's ``status_callback`` URL, for the few messages sent with one: the
    messages table, the hot path's, stays as it is."""

    __tablename__ = "message_callbacks"

    message_id: Mapped[int] = mapped_column(
        Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    account_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    url: Mapped[str] = mapped_column(String(2000))

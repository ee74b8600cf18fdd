"""Full-text search objects that the ORM does not model, one recipe per backend.

SQLite: an FTS5 table over ``messages.content``. Deletes and updates keep it in step
by triggers; inserts do not, because an FTS5 trigger fired per row makes a bulk insert
four times slower than one ``INSERT ... SELECT`` into the index after it. So every
insert into ``messages`` goes through ``services.messages`` and indexes its rows there
(``SQLITE_INDEX_NEW``), in the same transaction.
PostgreSQL: a ``tsvector`` per message in ``message_search``, with a GIN index,
filled by statement triggers on ``messages`` (migration 0005). Until 0005 it was a
generated column of ``messages`` itself, and then every status change, a new row
version, recomputed it and inserted a GIN entry per word: half of what the delivery
path cost PostgreSQL. Both use a plain word tokenizer with no stemming, so a search
means the same thing on both.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS messages_fts_ad AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_au AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
]
SQLITE_FTS_UP = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    *SQLITE_FTS_TRIGGERS,
]
SQLITE_FTS_DOWN = [
    "DROP TRIGGER IF EXISTS messages_fts_au",
    "DROP TRIGGER IF EXISTS messages_fts_ad",
    "DROP TABLE IF EXISTS messages_fts",
]
SQLITE_INDEX_NEW = (
    "INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages WHERE id > ?"
)
POSTGRES_FTS_UP = [
    "ALTER TABLE messages ADD COLUMN content_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED",
    "CREATE INDEX ix_messages_content_tsv ON messages USING GIN (content_tsv)",
]
POSTGRES_FTS_DOWN = [
    "DROP INDEX IF EXISTS ix_messages_content_tsv",
    "ALTER TABLE messages DROP COLUMN IF EXISTS content_tsv",
]

POSTGRES_SEARCH_TABLE_UP = [
    "CREATE TABLE message_search (message_id BIGINT PRIMARY KEY, tsv tsvector NOT NULL)",
    "INSERT INTO message_search (message_id, tsv) SELECT id, content_tsv FROM messages",
    "CREATE INDEX ix_message_search_tsv ON message_search USING GIN (tsv)",
    *POSTGRES_FTS_DOWN,
    # One INSERT ... SELECT per statement: a bulk insert of messages stays one pass.
    """CREATE FUNCTION jooksms_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO message_search (message_id, tsv)
        SELECT id, to_tsvector('simple', content) FROM new_messages;
        RETURN NULL;
    END $$""",
    # What the foreign keys to messages did, once per statement (see MessagePart).
    """CREATE FUNCTION jooksms_messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM message_search WHERE message_id IN (SELECT id FROM old_messages);
        DELETE FROM message_parts WHERE message_id IN (SELECT id FROM old_messages);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION jooksms_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE message_search SET tsv = to_tsvector('simple', NEW.content)
        WHERE message_id = NEW.id;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER messages_search_ai AFTER INSERT ON messages "
    "REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT "
    "EXECUTE FUNCTION jooksms_search_insert()",
    "CREATE TRIGGER messages_deleted AFTER DELETE ON messages "
    "REFERENCING OLD TABLE AS old_messages FOR EACH STATEMENT "
    "EXECUTE FUNCTION jooksms_messages_deleted()",
    # Content is written once; this keeps the index right should that ever change.
    "CREATE TRIGGER messages_search_au AFTER UPDATE OF content ON messages "
    "FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content) "
    "EXECUTE FUNCTION jooksms_search_update()",
]
POSTGRES_SEARCH_TABLE_DOWN = [
    "DROP TRIGGER IF EXISTS messages_search_au ON messages",
    "DROP TRIGGER IF EXISTS messages_deleted ON messages",
    "DROP TRIGGER IF EXISTS messages_search_ai ON messages",
    "DROP FUNCTION IF EXISTS jooksms_search_update()",
    "DROP FUNCTION IF EXISTS jooksms_messages_deleted()",
    "DROP FUNCTION IF EXISTS jooksms_search_insert()",
    *POSTGRES_FTS_UP,
    "DROP TABLE IF EXISTS message_search",
]

SQLITE_PARTS_DELETED_UP = [
    "CREATE TRIGGER IF NOT EXISTS messages_parts_ad AFTER DELETE ON messages BEGIN "
    "DELETE FROM message_parts WHERE message_id = old.id; END",
]
SQLITE_PARTS_DELETED_DOWN = ["DROP TRIGGER IF EXISTS messages_parts_ad"]

# The event log's writers (see models.Event). The type of a message event is
# "message." + the status the message reaches: queued, scheduled or received when it
# is stored, then sent, delivered, failed or canceled. A retry (sending -> queued)
# and a claim (-> sending) are the engine's business and write none.
EVENT_STATUSES = ("sent", "delivered", "failed", "canceled")
_EVENT_LIST = ", ".join(f"'{s}'" for s in EVENT_STATUSES)
EVENTS_CHANNEL = "jooksms_events"

SQLITE_EVENTS_UP = [
    "CREATE TRIGGER messages_events_ai AFTER INSERT ON messages BEGIN "
    "INSERT INTO events (account_id, type, message_id, error_code, created_at) "
    "VALUES (new.account_id, 'message.' || new.status, new.id, NULL, new.created_at); END",
    "CREATE TRIGGER messages_events_au AFTER UPDATE OF status ON messages "
    f"WHEN new.status <> old.status AND new.status IN ({_EVENT_LIST}) BEGIN "
    "INSERT INTO events (account_id, type, message_id, error_code, created_at) "
    "VALUES (new.account_id, 'message.' || new.status, new.id, "
    "CASE WHEN new.status = 'failed' THEN new.error_code END, new.updated_at); END",
]
SQLITE_EVENTS_DOWN = [
    "DROP TRIGGER IF EXISTS messages_events_au",
    "DROP TRIGGER IF EXISTS messages_events_ai",
]
# Statement triggers with transition tables: one INSERT ... SELECT per statement, so
# a batch of a thousand status changes writes its thousand events in one pass. The
# NOTIFY wakes the readers in other processes once the transaction commits (and
# only then); PostgreSQL folds repeated notices of one transaction into one.
POSTGRES_EVENTS_UP = [
    # xid8 as a bigint (it is 64 bits, epoch included): plain comparisons, and a
    # type that every client library reads.
    "ALTER TABLE events ADD COLUMN txid bigint NOT NULL "
    "DEFAULT (pg_current_xact_id()::text::bigint)",
    "CREATE INDEX ix_events_txid_id ON events (txid, id)",
    f"""CREATE FUNCTION jooksms_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO events (account_id, type, message_id, error_code, created_at)
        SELECT account_id, 'message.' || status, id, NULL, created_at
        FROM new_messages ORDER BY id;
        IF FOUND THEN
            PERFORM pg_notify('{EVENTS_CHANNEL}', '');
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION jooksms_events_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO events (account_id, type, message_id, error_code, created_at)
        SELECT n.account_id, 'message.' || n.status, n.id,
            CASE WHEN n.status = 'failed' THEN n.error_code END, n.updated_at
        FROM new_messages n JOIN old_messages o ON o.id = n.id
        WHERE n.status <> o.status AND n.status IN ({_EVENT_LIST})
        ORDER BY n.id;
        IF FOUND THEN
            PERFORM pg_notify('{EVENTS_CHANNEL}', '');
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER messages_events_ai AFTER INSERT ON messages "
    "REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT "
    "EXECUTE FUNCTION jooksms_events_inserted()",
    "CREATE TRIGGER messages_events_au AFTER UPDATE ON messages "
    "REFERENCING OLD TABLE AS old_messages NEW TABLE AS new_messages FOR EACH STATEMENT "
    "EXECUTE FUNCTION jooksms_events_updated()",
]
POSTGRES_EVENTS_DOWN = [
    "DROP TRIGGER IF EXISTS messages_events_au ON messages",
    "DROP TRIGGER IF EXISTS messages_events_ai ON messages",
    "DROP FUNCTION IF EXISTS jooksms_events_updated()",
    "DROP FUNCTION IF EXISTS jooksms_events_inserted()",
    "DROP INDEX IF EXISTS ix_events_txid_id",
    "ALTER TABLE events DROP COLUMN IF EXISTS txid",
]

_NOT_MODELLED = {
    "txid",
    "ix_events_txid_id",
    "messages_fts",
    "content_tsv",
    "ix_messages_content_tsv",
    "message_search",
    "ix_message_search_tsv",
}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep the search objects out of autogenerate's comparison with the models."""
    if name is None:
        return True
    return name not in _NOT_MODELLED and not name.startswith("messages_fts_")

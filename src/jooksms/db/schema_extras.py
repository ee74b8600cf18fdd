"""Full-text search objects that the ORM does not model, one recipe per backend.

SQLite: an FTS5 table over ``messages.content``. Deletes and updates keep it in step
by triggers; inserts do not, because an FTS5 trigger fired per row makes a bulk insert
four times slower than one ``INSERT ... SELECT`` into the index after it. So every
insert into ``messages`` goes through ``services.messages`` and indexes its rows there
(``SQLITE_INDEX_NEW``), in the same transaction.
PostgreSQL: a generated ``tsvector`` column with a GIN index. Both use a plain
word tokenizer with no stemming, so a search means the same thing on both.
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

_NOT_MODELLED = {"messages_fts", "content_tsv", "ix_messages_content_tsv"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep the search objects out of autogenerate's comparison with the models."""
    if name is None:
        return True
    return name not in _NOT_MODELLED and not name.startswith("messages_fts_")

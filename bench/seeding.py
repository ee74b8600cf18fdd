"""Filling one account with many messages by bulk SQL, not through the API.

Content is sentences drawn from a generated vocabulary with a Zipf distribution, so
word frequencies look like language: a few words are everywhere, most are rare. The
rows are what the app itself would have stored for sent messages, and the account's
``message_counts`` row is set the way the app keeps it (the list's total reads it).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import asyncpg

from jooksms.db.schema_extras import POSTGRES_SEARCH_TABLE_UP, SQLITE_FTS_DOWN, SQLITE_FTS_UP

SEED = 20_160_626
VOCABULARY = 5_000
NUMBERS = 20_000
WORDS_PER_MESSAGE = (5, 14)
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)
CHUNK = 50_000
#: Bump when the generated rows change, so cached seeded databases are rebuilt.
FORMAT = 1

COLUMNS = (
    "account_id",
    "direction",
    "status",
    "number",
    "from_number",
    "content",
    "segments",
    "encoding",
    "created_at",
    "updated_at",
)
_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True, slots=True)
class Row:
    number: str
    content: str
    created_at: datetime


@dataclass
class Corpus:
    """Deterministic vocabulary, recipients and sentences for ``total`` messages."""

    total: int
    # One generator per product, so that using one never shifts another.
    _sentence_rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    _word_rng: random.Random = field(default_factory=lambda: random.Random(SEED + 1))
    _number_rng: random.Random = field(default_factory=lambda: random.Random(SEED + 2))

    @cached_property
    def words(self) -> list[str]:
        """Distinct words, most frequent first (rank 1 is ``words[0]``)."""
        found: dict[str, None] = {}
        rng = self._word_rng
        while len(found) < VOCABULARY:
            syllables = rng.randint(1, 3)
            word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
            if len(word) >= 3:
                found[word + rng.choice(("", "n", "s", "r"))] = None
        return list(found)

    @cached_property
    def numbers(self) -> list[str]:
        picked = self._number_rng.sample(range(10_000_000), NUMBERS)
        return [f"+5076{n:07d}" for n in picked]

    @cached_property
    def _cum_weights(self) -> list[float]:
        total, cum = 0.0, []
        for rank in range(1, VOCABULARY + 1):
            total += 1.0 / rank
            cum.append(total)
        return cum

    def share(self, rank: int) -> float:
        """Expected share of messages that contain the word of this rank."""
        p = 1.0 / rank / self._cum_weights[-1]
        low, high = WORDS_PER_MESSAGE
        return sum(1 - (1 - p) ** n for n in range(low, high + 1)) / (high - low + 1)

    def word_near(self, share: float) -> str:
        """The word whose expected share of messages is closest to ``share``."""
        rank = min(range(1, VOCABULARY + 1), key=lambda r: abs(self.share(r) - share))
        return self.words[rank - 1]

    def chunks(self, size: int = CHUNK) -> Iterator[list[Row]]:
        words, numbers, rng = self.words, self.numbers, self._sentence_rng
        made = 0
        while made < self.total:
            count = min(size, self.total - made)
            lengths = [rng.randint(*WORDS_PER_MESSAGE) for _ in range(count)]
            tokens = rng.choices(words, cum_weights=self._cum_weights, k=sum(lengths))
            recipients = rng.choices(numbers, k=count)
            rows, at = [], 0
            for i, length in enumerate(lengths):
                content = " ".join(tokens[at : at + length]).capitalize() + "."
                at += length
                rows.append(Row(recipients[i], content, START + STEP * (made + i)))
            made += count
            yield rows


def _segments(content: str) -> int:
    """GSM-7 segments of plain ASCII letters, as the app counts them."""
    return 1 if len(content) <= 160 else -(-len(content) // 153)


def _progress(label: str, done: int, total: int, started: float) -> None:
    """One line redrawn on a terminal; a line per tenth in a log."""
    line = (
        f"  {label}: {100 * done // total:3d}% ({done:,}/{total:,}, "
        f"{time.monotonic() - started:.0f} s)"
    )
    if sys.stdout.isatty():
        sys.stdout.write("\r" + line + ("\n" if done >= total else ""))
    elif done >= total or done * 10 // total != (done - CHUNK) * 10 // total:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- SQLite ----------------------------------------------------------------------------

_SQLITE_INSERT = (
    f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
_COUNT_UPSERT = (
    "INSERT INTO message_counts (account_id, shard, n) VALUES ({a}, 0, {n}) "
    "ON CONFLICT (account_id, shard) DO UPDATE SET n = message_counts.n + excluded.n"
)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's storage format for SQLite DATETIME (naive UTC, always microseconds).
    return f"{value:%Y-%m-%d %H:%M:%S.%f}"


def seed_sqlite(path: Path, corpus: Corpus, *, account_id: int, from_number: str) -> None:
    """Insert with the FTS triggers dropped, rebuild the FTS index once, restore the
    triggers from the app's own DDL: the index ends up as the triggers would leave it."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-262144")
        for statement in SQLITE_FTS_DOWN:
            if statement.startswith("DROP TRIGGER"):
                con.execute(statement)
        started, done = time.monotonic(), 0
        for rows in corpus.chunks():
            con.execute("BEGIN")
            con.executemany(_SQLITE_INSERT, (_sqlite_row(r, account_id, from_number) for r in rows))
            con.execute("COMMIT")
            done += len(rows)
            _progress("inserting", done, corpus.total, started)
        print("  rebuilding the FTS index ...", flush=True)
        con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        for statement in SQLITE_FTS_UP:
            if statement.startswith("CREATE TRIGGER"):
                con.execute(statement)
        con.execute(_COUNT_UPSERT.format(a="?", n="?"), (account_id, corpus.total))
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def _sqlite_row(row: Row, account_id: int, from_number: str) -> tuple[object, ...]:
    at = _sqlite_time(row.created_at)
    segments = _segments(row.content)
    return (
        account_id,
        "sending",
        "sent",
        row.number,
        from_number,
        row.content,
        segments,
        "gsm7",
        at,
        at,
    )


# -- PostgreSQL ------------------------------------------------------------------------


def seed_postgres(url: str, corpus: Corpus, *, account_id: int, from_number: str) -> None:
    """COPY the rows with the GIN index dropped, then build it, VACUUM ANALYZE (what
    autovacuum would reach on its own soon after) and CHECKPOINT; the search vectors
    are written by the app's own trigger (``message_search``, migration 0005)."""
    asyncio.run(_seed_postgres(url, corpus, account_id, from_number))


async def _seed_postgres(url: str, corpus: Corpus, account_id: int, from_number: str) -> None:
    create_gin = next(s for s in POSTGRES_SEARCH_TABLE_UP if s.startswith("CREATE INDEX"))
    gin_name = create_gin.split()[2]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP INDEX IF EXISTS {gin_name}")
        started, done = time.monotonic(), 0
        for rows in corpus.chunks():
            records = [_pg_row(r, account_id, from_number) for r in rows]
            await conn.copy_records_to_table("messages", records=records, columns=COLUMNS)
            done += len(rows)
            _progress("copying", done, corpus.total, started)
        print("  building the GIN index ...", flush=True)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        await conn.execute(create_gin)
        await conn.execute(_COUNT_UPSERT.format(a="$1", n="$2"), account_id, corpus.total)
        print("  VACUUM ANALYZE, CHECKPOINT ...", flush=True)
        await conn.execute("VACUUM ANALYZE")
        # Write the seed's dirty pages out now, not during the measurements.
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def _pg_row(row: Row, account_id: int, from_number: str) -> tuple[object, ...]:
    at = row.created_at
    segments = _segments(row.content)
    return (
        account_id,
        "sending",
        "sent",
        row.number,
        from_number,
        row.content,
        segments,
        "gsm7",
        at,
        at,
    )

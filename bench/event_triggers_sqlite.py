"""How much a row trigger writing an event per status change costs SQLite (WAL,
synchronous=NORMAL, as JookSMS runs it): 100 updates of 1,000 rows, bare, then with
migration 0008's trigger, then bare again. Prints ms per 1,000 rows.

    python bench/event_triggers_sqlite.py
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

TRIGGER = (
    "CREATE TRIGGER ev AFTER UPDATE OF status ON m "
    "WHEN new.status <> old.status AND new.status IN ('sent','delivered','failed','canceled') "
    "BEGIN INSERT INTO events (account_id, type, message_id, error_code, created_at) "
    "VALUES (new.account_id, 'message.' || new.status, new.id, NULL, new.upd); END"
)


def run(folder: Path, with_trigger: bool, turn: int) -> float:
    path = folder / f"bench-{turn}.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, account_id INT, status TEXT, upd TEXT, content TEXT)"
    )
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, account_id INT, type TEXT,"
        " message_id INT, error_code TEXT, created_at TEXT)"
    )
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO m (account_id, status, upd, content) VALUES (?, 'queued', 'x', ?)",
        [(i % 10, "x" * 160) for i in range(200_000)],
    )
    db.execute("COMMIT")
    if with_trigger:
        db.execute(TRIGGER)
    started = time.perf_counter()
    for batch in range(100):
        db.execute("BEGIN")
        db.executemany(
            "UPDATE m SET status = 'sent', upd = ? WHERE id = ? AND status IN ('queued', 'sending')",
            [("now", i) for i in range(batch * 1000 + 1, batch * 1000 + 1001)],
        )
        db.execute("COMMIT")
    db.close()
    return (time.perf_counter() - started) / 100 * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        ways = (("bare", False), ("with the event trigger", True), ("bare", False))
        for turn, (label, trigger) in enumerate(ways):
            print(f"{label}: {run(Path(folder), trigger, turn):.2f} ms per 1,000 rows")


if __name__ == "__main__":
    main()

"""Where PostgreSQL's time goes, without pg_stat_statements (which needs a restart to
load): sample ``pg_stat_activity`` of one database every few milliseconds from a
thread, and count the active backends by statement.

A backend seen active with a statement in N of the samples spent about N x period
seconds in it (running, or waiting: the wait event says which). ``Activity`` is a
context manager; ``report()`` gives the statements by share of the active samples.

    with Activity(url) as activity:
        ...  # the load
    for row in activity.report():
        print(row)
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg

_SAMPLE = """
SELECT query, coalesce(wait_event_type || ':' || wait_event, 'running') AS waiting
FROM pg_stat_activity
WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()
"""
_NUMBERS = re.compile(r"\$\d+|\b\d+\b")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Row:
    statement: str
    #: Share of all active-backend samples.
    share: float
    #: Seconds of backend time (samples x period).
    seconds: float
    #: The most frequent state in it: "running" or the wait event.
    mostly: str


class Activity:
    def __init__(self, url: str, period: float = 0.005, width: int = 160) -> None:
        self._url = url
        self._name = url.rsplit("/", 1)[1]
        self._period = period
        self._width = width
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples = 0
        self.by_statement: Counter[str] = Counter()
        self.by_state: Counter[tuple[str, str]] = Counter()
        self.error: BaseException | None = None
        self._elapsed = 0.0

    def __enter__(self) -> Activity:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as exc:
            self.error = exc

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self._url)
        try:
            statement = await conn.prepare(_SAMPLE)
            began = time.perf_counter()
            while not self._stop.is_set():
                started = time.perf_counter()
                rows = await statement.fetch(self._name)
                self.samples += 1
                for row in rows:
                    key = self._normalize(row["query"] or "")
                    self.by_statement[key] += 1
                    self.by_state[(key, row["waiting"])] += 1
                rest = self._period - (time.perf_counter() - started)
                if rest > 0:
                    await asyncio.sleep(rest)
                self._elapsed = time.perf_counter() - began
        finally:
            await conn.close()

    def _normalize(self, query: str) -> str:
        text = _SPACES.sub(" ", _NUMBERS.sub("N", query)).strip()
        return text[: self._width]

    @property
    def period(self) -> float:
        """The real time between samples (a sample itself takes time)."""
        return self._elapsed / self.samples if self.samples else self._period

    def report(self, limit: int = 12) -> list[Row]:
        total = sum(self.by_statement.values()) or 1
        rows = []
        for key, count in self.by_statement.most_common(limit):
            states = Counter({s: n for (k, s), n in self.by_state.items() if k == key})
            rows.append(Row(key, count / total, count * self.period, states.most_common(1)[0][0]))
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "period_s": self.period,
            "active_backend_samples": sum(self.by_statement.values()),
            "statements": [
                {
                    "statement": r.statement,
                    "share": r.share,
                    "seconds": r.seconds,
                    "mostly": r.mostly,
                }
                for r in self.report(20)
            ],
        }

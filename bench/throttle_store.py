"""What counting failed sign-ins in PostgreSQL would cost, against the in-process
limiter (services/throttle.py): one UPSERT per failure, on one key (a flood naming
one client id: a hot row) and on distinct keys (a flood cycling ids or addresses).

    .venv/bin/python bench/throttle_store.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable

import asyncpg

from jooksms.services.throttle import FailureLimiter, Limit

UPSERT = """
INSERT INTO auth_failures AS f (key, window_start, failures) VALUES ($1, now(), 1)
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN f.window_start < now() - interval '300 seconds'
                  THEN 1 ELSE f.failures + 1 END,
  window_start = CASE WHEN f.window_start < now() - interval '300 seconds'
                      THEN now() ELSE f.window_start END
RETURNING failures"""


async def _throughput(pool: asyncpg.Pool, key: Callable[[int], str], seconds: float) -> float:
    done = 0
    until = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.monotonic() < until:
                await conn.fetchval(UPSERT, key(done))
                done += 1

    await asyncio.gather(*(worker() for _ in range(pool.get_max_size())))
    return done / seconds


async def _postgres(admin_url: str, seconds: float) -> None:
    name = f"jooksms_throttle_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        async with asyncpg.create_pool(url, min_size=16, max_size=16) as pool:
            await pool.execute(
                "CREATE TABLE auth_failures (key text PRIMARY KEY, "
                "window_start timestamptz, failures int)"
            )
            async with pool.acquire() as conn:
                times = []
                for _ in range(2000):
                    start = time.perf_counter()
                    await conn.fetchval(UPSERT, "client:x")
                    times.append(time.perf_counter() - start)
            times.sort()
            print(
                f"PostgreSQL, one failure at a time: p50 {statistics.median(times) * 1e3:.3f} ms,"
                f" p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms"
            )
            hot = await _throughput(pool, lambda i: "client:x", seconds)
            print(f"PostgreSQL, 16 connections, one key: {hot:,.0f} failures/s")
            spread = await _throughput(pool, lambda i: f"addr:{i}", seconds)
            print(f"PostgreSQL, 16 connections, distinct keys: {spread:,.0f} failures/s")
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def _in_process(n: int = 200_000) -> None:
    limiter = FailureLimiter(Limit(10, 300))
    start = time.perf_counter()
    for _ in range(n):
        limiter.retry_after("client:x")
        limiter.failed("client:x")
    print(f"in process: {(time.perf_counter() - start) / n * 1e6:.1f} µs per check and count")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    _in_process()
    asyncio.run(_postgres(args.postgres, args.seconds))


if __name__ == "__main__":
    main()

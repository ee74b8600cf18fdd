"""A write lane: batches, waiting for the commit, keeping what failed to be written."""

from __future__ import annotations

import asyncio

import pytest

from jooksms.delivery.lanes import WriteLane


class Store:
    """Records each batch written; fails the next ``failures`` writes."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.failures = failures

    async def write(self, items: list[int]) -> None:
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database away")
        self.batches.append(items)


async def test_put_and_wait_returns_once_written_in_one_batch() -> None:
    store = Store()
    lane: WriteLane[int] = WriteLane("test", store.write, linger=0.01, linger_below=100)
    finished = asyncio.Event()
    runner = asyncio.create_task(lane.run(finished))
    waiters = [asyncio.create_task(lane.put_and_wait(n)) for n in range(5)]
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert store.batches == [[0, 1, 2, 3, 4]]  # gathered while the lane lingered
    finished.set()
    lane.wake()
    await asyncio.wait_for(runner, 5)


async def test_a_failed_write_keeps_items_in_order_and_waiters_waiting() -> None:
    store = Store(failures=1)
    lane: WriteLane[int] = WriteLane("test", store.write, linger=0, linger_below=0)
    lane.put(1)
    lane.put(2)
    with pytest.raises(RuntimeError):
        await lane.flush()
    assert len(lane) == 2
    lane.put(3)
    await lane.flush()
    assert store.batches == [[1, 2, 3]]
    assert len(lane) == 0


async def test_the_running_lane_retries_until_written() -> None:
    store = Store(failures=1)
    lane: WriteLane[int] = WriteLane("test", store.write, linger=0, linger_below=0)
    finished = asyncio.Event()
    runner = asyncio.create_task(lane.run(finished))
    await asyncio.wait_for(lane.put_and_wait(7), 5)  # the retry comes a second later
    assert store.batches == [[7]]
    finished.set()
    lane.wake()
    await asyncio.wait_for(runner, 5)


async def test_without_a_running_loop_put_and_wait_writes_at_once() -> None:
    store = Store()
    lane: WriteLane[int] = WriteLane("test", store.write, linger=10, linger_below=100)
    await asyncio.wait_for(lane.put_and_wait(1), 1)
    assert store.batches == [[1]]


async def test_run_writes_what_is_left_then_ends_when_finished() -> None:
    store = Store()
    lane: WriteLane[int] = WriteLane("test", store.write, linger=10, linger_below=100)
    finished = asyncio.Event()
    finished.set()  # no lingering once finished
    lane.put(1)
    await asyncio.wait_for(lane.run(finished), 1)
    assert store.batches == [[1]]

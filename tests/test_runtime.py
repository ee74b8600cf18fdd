"""The processes' event loop and garbage collector settings."""

from __future__ import annotations

import asyncio
import builtins
import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from jooksms import runtime


def test_auto_and_uvloop_choose_uvloop() -> None:
    for choice in ("auto", "uvloop"):
        factory = runtime.loop_factory(choice)
        assert factory is not None
        loop = factory()
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()


def test_asyncio_chooses_the_default_loop() -> None:
    assert runtime.loop_factory("asyncio") is None


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_import = builtins.__import__

    def deny(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", deny)
    yield


@pytest.mark.usefixtures("no_uvloop")
def test_without_uvloop_auto_falls_back_and_uvloop_says_why() -> None:
    assert runtime.loop_factory("auto") is None
    with pytest.raises(SystemExit, match="uvloop is not installed"):
        runtime.loop_factory("uvloop")


def test_settle_gc_freezes_start_up_and_makes_young_collections_rarer() -> None:
    before = gc.get_threshold()
    try:
        runtime.settle_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == runtime.YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        # Cycles made after start-up are still collected.
        cycle: list[Any] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_worker_runs_on_uvloop_under_asyncio_runner() -> None:
    """``jooksms worker`` and ``smsc-sim`` hand the factory to asyncio.Runner."""

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    def run() -> str:
        with asyncio.Runner(loop_factory=runtime.loop_factory()) as runner:
            return runner.run(which())

    assert (await asyncio.to_thread(run)).startswith("uvloop")

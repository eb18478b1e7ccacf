"""Bounded MongoDB calls: every driver failure and every timeout becomes
StoreUnavailable with the client-safe message; options are checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from nexus_tornado.errors import ConfigError, StoreUnavailable
from nexus_tornado.hub.mongo_calls import (
    UNAVAILABLE,
    BoundedCalls,
    awaitable,
    cancel_and_wait,
    check_options,
    check_uri_options,
)


class Calls(BoundedCalls):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout


@pytest.mark.gen_test
async def test_driver_errors_and_timeouts_become_store_unavailable() -> None:
    calls = Calls(0.2)

    async def fails() -> Any:
        raise ServerSelectionTimeoutError("no primary")

    async def hangs() -> Any:  # past the timeout and GRACE (0.7 s in all)
        await asyncio.sleep(0.9)

    for operation in (fails, hangs):
        with pytest.raises(StoreUnavailable) as caught:
            await calls._run("op", operation)
        assert caught.value.message == UNAVAILABLE
        assert "op:" in caught.value.log_detail

    async def duplicate() -> Any:
        raise DuplicateKeyError("dup")

    with pytest.raises(DuplicateKeyError):
        await calls._run("op", duplicate, passthrough=(DuplicateKeyError,))

    async def answers() -> int:
        return 7

    assert await calls._run("op", answers) == 7
    await asyncio.sleep(0.3)  # hangs() ends on its own (it is never cancelled)


@pytest.mark.gen_test
async def test_an_operation_is_never_cancelled_by_its_bound_or_by_its_caller() -> None:
    # PyMongo's asynchronous client can be left holding a lock it no longer has when a
    # task is cancelled inside it; every later call on it then waits for ever.
    calls = Calls(0.05)
    ended = []

    async def slow() -> str:
        try:
            await asyncio.sleep(0.8)  # past the timeout and GRACE (0.55 s in all)
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise
        ended.append("finished")
        return "late"

    with pytest.raises(StoreUnavailable):
        await calls._run("op", slow)
    await asyncio.sleep(0.5)  # the loop's timers run in order: slow's ends first
    assert ended == ["finished"]

    ended.clear()
    calls.timeout = 5.0
    caller = asyncio.ensure_future(calls._run("op", slow))
    await asyncio.sleep(0.1)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(1.0)
    assert ended == ["finished"]


@pytest.mark.gen_test
async def test_a_deadline_already_past_fails_at_once() -> None:
    calls = Calls(5.0)
    with pytest.raises(StoreUnavailable):
        await calls._run("op", lambda: asyncio.sleep(0), deadline=asyncio.get_running_loop().time() - 1)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        check_options("bad-prefix!", 1.0)
    with pytest.raises(ConfigError):
        check_options("nexus_", 0)
    with pytest.raises(ConfigError):
        awaitable(object())


@pytest.mark.gen_test
async def test_cancel_and_wait_ends_the_task_before_returning() -> None:
    ended = asyncio.Event()

    async def background() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = asyncio.ensure_future(background())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and ended.is_set()
    await cancel_and_wait(None)  # nothing to stop: no error


@pytest.mark.parametrize("uri", [
    "mongodb://db1,db2/nexus?replicaSet=rs0&w=majority",
    "mongodb://nexus:p%40ss@db1/nexus?authSource=admin&retryWrites=true",
    "mongodb://db1/nexus?",
    "mongodb://db1/nexus",
])
def test_uri_options_the_driver_knows_pass(uri: str) -> None:
    check_uri_options(uri)


@pytest.mark.parametrize("uri, message", [
    # The driver would only warn about these and start without them.
    ("mongodb://nexus:s3cret@db1/nexus?w=majority&retryWrite=true", "unknown option 'retryWrite' (the driver would ignore it)"),
    ("mongodb://nexus:s3cret@db1/nexus?replicaset=rs0&readPreference=fastest", "option 'readPreference': "),
])
def test_uri_options_the_driver_does_not_know_or_take_are_refused_by_name(uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_uri_options(uri)
    assert refused.value.message.startswith("mongo_uri: ") and message in refused.value.message
    assert "s3cret" not in refused.value.message

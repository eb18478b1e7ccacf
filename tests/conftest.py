"""Fixtures shared by the whole suite."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from tornado.ioloop import IOLoop


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A fresh IOLoop per test for pytest-tornado's ``gen_test``, closed afterwards.

    Replaces pytest-tornado's own, which relies on ``IOLoop.make_current()`` (deprecated
    since Tornado 6.2) and can leave an unclosed asyncio loop behind for the next test.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    io_loop = IOLoop.current()
    try:
        yield io_loop
    finally:
        io_loop.close(all_fds=True)
        asyncio.set_event_loop(None)

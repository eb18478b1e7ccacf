"""Fixtures shared by the whole suite."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from hypothesis import settings
from support.clients import closing_new_clients
from tornado.ioloop import IOLoop

# No wall-clock deadline for hypothesis examples: a correct example run on a busy
# machine (two pytest workers, other builds) must not fail for being slow. No example
# database either: nothing is written to the working tree, and runs are reproducible
# from the printed seed.
settings.register_profile("nexus", deadline=None, database=None)
settings.load_profile("nexus")


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


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Close the test clients a test opened and left open (say, because it failed):
    a socket left to the garbage collector would fail a later test with a
    ResourceWarning."""
    with closing_new_clients():
        yield

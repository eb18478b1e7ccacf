"""Bounded MongoDB calls, shared by the store, the change feed and the cluster state.

Every operation runs under ``pymongo.timeout(budget)`` (the driver's own deadline, also
honoured by motor's worker threads), and is waited for a little longer than that; it is
never cancelled, neither by that wait nor by a caller that is: PyMongo's asynchronous
client can be left with a server-selection lock it no longer holds when a task is
cancelled inside it, and every later call on that client then waits for ever. An
operation the driver fails to end in time is left to end on its own, its outcome
dropped. Every driver error becomes :class:`~nexus_tornado.errors.StoreUnavailable` with a
client-safe message; the cause goes to ``log_detail``. Together with
:mod:`nexus_tornado.hub.mongo`, :mod:`.mongo_feed` and :mod:`.mongo_cluster`, these are
the only modules that import the driver.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any, Awaitable, Callable, Optional, Tuple, Type, TypeVar

import pymongo
from bson.errors import BSONError
from pymongo.errors import PyMongoError

from ..errors import ConfigError, StoreUnavailable

T = TypeVar("T")

#: Collection names are kept to letters, digits and ``_``.
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_]*$")

#: Seconds added to the driver's own deadline before giving up on an operation the
#: driver failed to end (the driver's timeout should fire first).
GRACE = 0.5

#: What the client may see when the store fails; the cause goes only to the log.
UNAVAILABLE = "message store unavailable"


class BoundedCalls:
    """Mixin: ``timeout``-bounded driver calls that fail only with StoreUnavailable."""

    timeout: float

    def _deadline(self) -> float:
        """When an operation started now must be over (event loop time)."""
        return asyncio.get_running_loop().time() + self.timeout

    async def _pause(self, attempt: int, deadline: float, what: str) -> None:
        """Back off before retrying; StoreUnavailable if ``deadline`` has passed."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise StoreUnavailable(UNAVAILABLE, log_detail="%s: out of time" % what)
        await asyncio.sleep(min(0.02 * 2 ** min(attempt, 5), remaining))

    async def _run(
        self,
        what: str,
        operation: Callable[[], Awaitable[T]],
        *,
        deadline: Optional[float] = None,
        passthrough: Tuple[Type[BaseException], ...] = (),
    ) -> T:
        """Await ``operation()`` within the time left (``timeout`` or until
        ``deadline``), turning every driver failure into StoreUnavailable.

        Exceptions in ``passthrough`` reach the caller unchanged.
        """
        budget = self.timeout
        if deadline is not None:
            budget = deadline - asyncio.get_running_loop().time()
            if budget <= 0:
                raise StoreUnavailable(UNAVAILABLE, log_detail="%s: out of time" % what)
        try:
            with pymongo.timeout(budget):
                # A task of its own (it takes the driver's deadline with it), shielded:
                # see the module docstring for why it is never cancelled.
                call = asyncio.ensure_future(operation())
            try:
                return await asyncio.wait_for(asyncio.shield(call), budget + GRACE)
            finally:
                if not call.done():
                    call.add_done_callback(_drop_outcome)
        except passthrough:
            raise
        except (PyMongoError, BSONError, asyncio.TimeoutError, OSError) as exc:
            raise StoreUnavailable(
                UNAVAILABLE, log_detail="%s: %s: %s" % (what, type(exc).__name__, exc)
            ) from exc


def _drop_outcome(call: "asyncio.Future[Any]") -> None:
    """The outcome of a call nobody waits for any more: retrieved, so that asyncio does
    not report it as never retrieved."""
    if not call.cancelled():
        call.exception()


def check_options(collection_prefix: str, timeout: float) -> None:
    if not _PREFIX_RE.match(collection_prefix):
        raise ConfigError(
            "collection_prefix may hold only letters, digits and '_': %r"
            % (collection_prefix,)
        )
    if not timeout > 0:
        raise ConfigError("timeout must be > 0 seconds")


def check_uri_options(uri: str) -> None:
    """Refuse a URI option the driver does not know or cannot take (the driver itself
    only warns and goes on without it), naming the option, never the credentials."""
    from pymongo.uri_parser import split_options

    query = uri.split("?", 1)[1] if "?" in uri else ""
    if not query:
        return
    try:
        split_options(query, validate=True, warn=False)
    except (pymongo.errors.ConfigurationError, ValueError) as exc:
        for pair in filter(None, re.split("[&;]", query)):
            try:
                split_options(pair, validate=True, warn=False)
            except (pymongo.errors.ConfigurationError, ValueError) as one:
                name = pair.split("=", 1)[0]
                if str(one).startswith("Unknown option"):
                    raise ConfigError("mongo_uri: unknown option %r (the driver would ignore it)" % name) from None
                raise ConfigError("mongo_uri: option %r: %s" % (name, one)) from None
        raise ConfigError("mongo_uri: %s" % (exc,)) from None


def awaitable(result: Any) -> Any:
    """``result`` if it can be awaited; a synchronous PyMongo database cannot."""
    if not inspect.isawaitable(result):
        raise ConfigError(
            "MongoStore needs an asynchronous database (motor, or "
            "pymongo.AsyncMongoClient), not a synchronous PyMongo one"
        )
    return result


async def cancel_and_wait(task: "Optional[asyncio.Future[Any]]") -> None:
    """Cancel a background task of ours and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def close_client(client: Any) -> None:
    """Close a motor (plain call) or PyMongo async (coroutine) client."""
    result = client.close()
    if inspect.isawaitable(result):
        await result

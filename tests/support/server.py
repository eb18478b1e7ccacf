"""A real Tornado server on a free loopback port, run in a background thread.

Usage::

    base_url, stop = start_server([(r"/echo", EchoHandler)])
    try:
        ...  # talk to base_url with any blocking client
    finally:
        stop()

The server gets its own IOLoop in its own thread, so blocking clients (http.client,
websocket-client, stomp.py, Playwright's sync API) can run in the test thread.
``start_server_handle`` returns the same plus ``call(fn)``, which runs ``fn`` on the
server's loop and returns its result: use it for anything that touches server state
(sessions, routers), since Tornado objects are not thread-safe.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable, List, Optional, Tuple, TypeVar, Union

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets
from tornado.web import Application

T = TypeVar("T")

#: How long start-up, ``call`` and shutdown may take before the test fails.
TIMEOUT = 10.0


class ServerHandle:
    """A running server: its URL, its loop, and how to stop it."""

    def __init__(self, base_url: str, port: int, loop: IOLoop, stop: Callable[[], None]):
        self.base_url = base_url
        self.port = port
        self.loop = loop
        self.stop = stop

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the server's IOLoop thread and return its result."""
        done = threading.Event()
        box: dict = {}

        def run() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # re-raised in the calling thread
                box["error"] = exc
            finally:
                done.set()

        self.loop.add_callback(run)
        if not done.wait(TIMEOUT):
            raise TimeoutError("server loop did not run the call")
        if "error" in box:
            raise box["error"]
        return box["result"]


def start_server_handle(
    urls: Union[List[Any], Callable[[], List[Any]]],
    app_settings: Optional[dict] = None,
    setup: Optional[Callable[[], Any]] = None,
    **server_kwargs: Any,
) -> ServerHandle:
    """Start ``Application(urls, **app_settings)`` on 127.0.0.1:<free port>.

    ``urls`` may also be a callable returning the list; it (and ``setup``) then runs
    on the server thread with its loop current, for objects that want one.
    """
    sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    port = sockets[0].getsockname()[1]
    started = threading.Event()
    stopped = threading.Event()
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            if setup is not None:
                setup()
            routes = urls() if callable(urls) else urls
            app = Application(routes, **(app_settings or {}))
            server = HTTPServer(app, **server_kwargs)
            server.add_sockets(sockets)
            holder["loop"] = loop
            holder["server"] = server
        except BaseException as exc:
            holder["error"] = exc
            started.set()
            return
        started.set()
        try:
            loop.start()
        finally:
            loop.close(all_fds=True)
            stopped.set()

    thread = threading.Thread(target=run, name="test-server-%d" % port, daemon=True)
    thread.start()
    if not started.wait(TIMEOUT):
        raise TimeoutError("test server did not start")
    if "error" in holder:
        raise holder["error"]
    loop: IOLoop = holder["loop"]

    def stop() -> None:
        if stopped.is_set():
            return

        async def shutdown() -> None:
            holder["server"].stop()
            await holder["server"].close_all_connections()
            loop.stop()

        loop.add_callback(shutdown)
        stopped.wait(TIMEOUT)
        thread.join(TIMEOUT)

    return ServerHandle("http://127.0.0.1:%d" % port, port, loop, stop)


def start_server(
    urls: Union[List[Any], Callable[[], List[Any]]], app_settings: Optional[dict] = None, **server_kwargs: Any
) -> Tuple[str, Callable[[], None]]:
    """Start a server for ``urls``; return ``(base_url, stop)``."""
    handle = start_server_handle(urls, app_settings, **server_kwargs)
    return handle.base_url, handle.stop

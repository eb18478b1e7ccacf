"""A real nexus-tornado server (the plugin in a Tornado app) on a free loopback port.

The server runs in a background thread with its own IOLoop (see ``server.py``), so
blocking clients such as stomp.py and websocket-client can run in the test thread::

    with running_nexus() as nexus:
        conn = stomp.WSStompConnection([("127.0.0.1", nexus.port)], ws_path="/stomp/websocket")
        conn.connect(passcode=nexus.token("alice", chats=["c1"]), wait=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional

import jwt
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from nexus_tornado.hub.store import Store
from nexus_tornado.settings import Settings
from nexus_tornado.host.plugin import NexusPlugin

from .clients import Bystander
from .server import ServerHandle, start_server_handle

SECRET = "test-secret-0123456789abcdef0123456789"


def make_token(
    user: str,
    *,
    secret: str = SECRET,
    ttl: float = 3600,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """A signed JWT for ``user`` with the given extra claims (chats, boards, roles...)."""
    payload = {"sub": user, "exp": int(time.time() + ttl), "iat": int(time.time())}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm=algorithm)


class NexusServer:
    """A running server: its handle, its plugin, and a token factory."""

    def __init__(self, handle: ServerHandle, plugin: NexusPlugin) -> None:
        self.handle = handle
        self.plugin = plugin
        self.port = handle.port
        self.base_url = handle.base_url
        self.ws_url = "ws://127.0.0.1:%d%s/websocket" % (handle.port, plugin.settings.prefix)

    def token(self, user: str, **claims: Any) -> str:
        return make_token(user, secret=self.plugin.settings.jwt_secret, **claims)

    @functools.cached_property
    def admin_url(self) -> str:
        """The plugin's ``admin_urls`` in an application of their own, on another free
        loopback port of the same loop (as a host app mounts them); started on first use."""

        def listen() -> int:
            sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
            self._admin_server = HTTPServer(Application(self.plugin.admin_urls))
            self._admin_server.add_sockets(sockets)
            return int(sockets[0].getsockname()[1])

        return "http://127.0.0.1:%d" % self.handle.call(listen)

    def stop_admin(self) -> None:
        """Stop what :attr:`admin_url` started, if anything."""
        server = self.__dict__.pop("_admin_server", None)
        if server is not None:
            self.handle.call(server.stop)
            self.run(server.close_all_connections)

    def bystander(self, sign: Optional[Callable[..., str]] = None) -> Bystander:
        """A well-behaved client on a chat of its own, to show others are unaffected."""
        chat = "calm-" + uuid.uuid4().hex[:8]
        return Bystander(self.ws_url, (sign or self.token)("bystander", chats=[chat]), chat=chat)

    def run(self, coro_fn: Any) -> Any:
        """Run ``await coro_fn()`` on the server loop and return its result."""
        future = self.handle.call(lambda: asyncio.ensure_future(coro_fn()))
        deadline = time.monotonic() + 10
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError("server coroutine did not finish")
            time.sleep(0.005)
        return future.result()


@contextlib.contextmanager
def running_nexus(
    settings: Optional[Settings] = None,
    store_factory: Any = None,
    extra_urls: Any = None,
    plugin_options: Optional[Dict[str, Any]] = None,
    **overrides: Any,
) -> Iterator[NexusServer]:
    """Start the plugin in an app on 127.0.0.1:<free port>; stop it afterwards.

    ``extra_urls`` are the host app's URL specs, or a function of the plugin that
    returns them (as ``nexus_tornado.demo.demo_urls`` is).

    ``overrides`` replace settings fields; ``plugin_options`` are further keyword
    arguments of ``NexusPlugin`` (e.g. ``tick_seconds=0.05`` for short timeouts).
    """
    if settings is None:
        settings = Settings(jwt_secret=SECRET)
    if overrides:
        settings = settings.replace(**overrides)
    box: dict = {}

    def urls() -> List[Any]:
        store: Optional[Store] = store_factory() if store_factory else None
        plugin = box["plugin"] = NexusPlugin(settings, store=store, **(plugin_options or {}))
        extra = extra_urls(plugin) if callable(extra_urls) else list(extra_urls or [])
        return plugin.urls + extra

    handle = start_server_handle(urls)
    nexus = NexusServer(handle, box["plugin"])
    try:
        nexus.run(nexus.plugin.start)
        yield nexus
    finally:
        try:
            if nexus.plugin.started:
                nexus.run(lambda: nexus.plugin.close(drain_seconds=1.0))
        finally:
            nexus.stop_admin()
            handle.stop()

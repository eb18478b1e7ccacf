"""The host-app API: mounted next to the app's own handlers, publishing from a handler,
heart-beats, and a clean close."""

from __future__ import annotations

import json
import time
import uuid
import urllib.error
import urllib.request
from typing import Any

import pytest
import tornado.web
from support.clients import RawWsClient, chat_envelope
from support.mongo import NxServer, nx_server  # noqa: F401  (fixture)
from support.nexus import running_nexus

from nexus_tornado.host import plugin as plugin_module


class HostHandler(tornado.web.RequestHandler):
    """A handler of the host app: publishes a board update through the plugin."""

    def initialize(self, get_plugin: Any) -> None:
        self.get_plugin = get_plugin

    def get(self) -> None:
        self.write("host app")

    async def post(self) -> None:
        stored = await self.get_plugin().publish(
            "/topic/board/b1",
            {"type": "BOARD_UPDATE", "timestamp": "2026-11-25T10:00:00Z", "senderId": "system",
             "payload": {"boardId": "b1", "action": "add", "data": {"card": "c9"}}},
        )
        self.write({"seq": stored.seq})


def test_plugin_mounts_next_to_host_handlers_and_host_code_publishes() -> None:
    box: dict = {}
    urls = [(r"/app", HostHandler, {"get_plugin": lambda: box["nexus"].plugin})]
    with running_nexus(extra_urls=urls) as nexus:
        box["nexus"] = nexus
        with urllib.request.urlopen(nexus.base_url + "/app", timeout=10) as response:
            assert response.read() == b"host app"
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("kim", boards=["b1"]))
            client.send_frame("SUBSCRIBE", {"id": "b", "destination": "/topic/board/b1", "receipt": "s"})
            client.expect("RECEIPT")
            request = urllib.request.Request(nexus.base_url + "/app", data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read()) == {"seq": 1}
            message = client.expect("MESSAGE")
            assert message.headers["seq"] == "1"
            assert json.loads(message.body)["payload"]["data"] == {"card": "c9"}
        finally:
            client.close()


def test_heart_beats_are_sent_and_a_silent_client_is_closed() -> None:
    with running_nexus(heartbeat=(500, 500), plugin_options={"tick_seconds": 0.1}) as nexus:
        client = RawWsClient(nexus.ws_url)
        try:
            connected = client.connect(nexus.token("hb"), heart_beat="500,500")
            assert connected.headers["heart-beat"] == "500,500"
            # The client promised a heart-beat every 500 ms and sends nothing: the server
            # keeps beating meanwhile, then gives up on it.
            started = time.monotonic()
            client.wait_closed(timeout=15)
            assert client.parser.heartbeats_received >= 1
            error = next(f for f in client.frames if f.command == "ERROR")
            assert error.headers["message"] == "heart-beat timeout"
            assert time.monotonic() - started >= 1.0
        finally:
            client.close()


def test_a_client_that_beats_stays_connected() -> None:
    with running_nexus(heartbeat=(500, 500), plugin_options={"tick_seconds": 0.1}) as nexus:
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("hb2", chats=["x"]), heart_beat="500,500")
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                client.send_raw("\n")
                time.sleep(0.2)
            client.send_frame("SUBSCRIBE", {"id": "1", "destination": "/topic/chat/x", "receipt": "alive"})
            client.expect("RECEIPT", receipt_id="alive")
        finally:
            client.close()


@pytest.mark.parametrize("name", ["jsonp", "jsonp-polling"])
def test_disabled_transports_setting_turns_a_transport_off(name: str) -> None:
    with running_nexus(disabled_transports=(name,)) as nexus:
        url = nexus.base_url + "/stomp/000/abcdefgh/%s?c=callback"
        with pytest.raises(urllib.error.HTTPError) as off:
            urllib.request.urlopen(url % "jsonp", timeout=10)
        assert off.value.code == 404
        off.value.close()
        request = urllib.request.Request(url % "xhr", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as on:
            assert on.read() == b"o\n"


def test_close_gives_websocket_clients_close_handshake_timeout_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = []
    drain = plugin_module.drain

    async def recording_drain(services: Any, reconnect_delay: float, deadline: float, close_wait: float) -> None:
        waits.append(close_wait)
        await drain(services, reconnect_delay, deadline, close_wait)

    monkeypatch.setattr(plugin_module, "drain", recording_drain)
    with running_nexus(close_handshake_timeout=0.7) as nexus:
        nexus.run(lambda: nexus.plugin.close())
    assert waits and set(waits) == {0.7}


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_operator_endpoints_are_off_by_default_and_never_in_the_public_urls() -> None:
    with running_nexus() as nexus:  # a host app's defaults: none of them anywhere
        for path in ("/metrics", "/status", "/healthz", "/readyz"):
            assert get_status(nexus.base_url + path) == 404, path
            assert get_status(nexus.admin_url + path) == 404, path
    paths = {"metrics_path": "/metrics", "status_path": "/status", "health_path": "/healthz", "readiness_path": "/readyz"}
    with running_nexus(**paths) as nexus:
        # Asked for, metrics and the operator's page are only in admin_urls, which the
        # host mounts where the public cannot reach; liveness and readiness are in both.
        for path in ("/metrics", "/status", "/status/data.json"):
            assert get_status(nexus.base_url + path) == 404, path
            assert get_status(nexus.admin_url + path) == 200, path
        for path in ("/healthz", "/readyz"):
            assert get_status(nexus.base_url + path) == 200, path
            assert get_status(nexus.admin_url + path) == 200, path


@pytest.mark.parametrize("driver", ["motor", "pymongo"])
@pytest.mark.gen_test(timeout=30)
async def test_the_mongodb_store_uses_the_driver_and_batch_bounds_of_the_settings(driver: str) -> None:
    from nexus_tornado.hub.mongo import MongoStore, client_class_for
    from nexus_tornado.settings import Settings

    settings = Settings(
        jwt_secret="s" * 32,
        mongo_uri="mongodb://127.0.0.1:1/chat",
        mongo_driver=driver,
        mongo_batch_count=7,
        mongo_batch_bytes=12345,
    )
    store = plugin_module.store_from_settings(settings)
    try:
        assert isinstance(store, MongoStore)
        assert isinstance(store.database.client, client_class_for(driver))
        assert (store.batch_count, store.batch_bytes) == (7, 12345)
    finally:
        await store.close()


def test_the_command_creates_its_mongodb_store_with_motor_by_default() -> None:
    from nexus_tornado.settings import Settings

    assert Settings(jwt_secret="s" * 32).mongo_driver == "motor"


@pytest.mark.parametrize("change_stream", [True, False])
def test_one_process_without_a_change_stream_counts_users_by_itself(
    nx_server: NxServer, change_stream: bool  # noqa: F811
) -> None:
    """Without the change stream (one process on a standalone MongoDB: nothing of other
    processes would reach it) the plugin joins no cluster: presence and per-user limits
    are this process's own, and a connection writes nothing of the user's to MongoDB."""
    import pymongo

    from nexus_tornado.hub.mongo import MongoStore

    database = "solo_" + uuid.uuid4().hex[:8]
    with running_nexus(store_factory=lambda: MongoStore.from_uri(nx_server.uri, database), mongo_uri=nx_server.uri,
                       mongo_database=database, mongo_change_stream=change_stream) as nexus:
        client = RawWsClient(nexus.ws_url)
        client.connect(nexus.token("ann", chats=["c1"]))
        client.send_frame("SEND", {"destination": "/topic/chat/c1", "content-type": "application/json",
                                   "receipt": "r"}, chat_envelope("ann", "c1"))
        client.expect("RECEIPT", receipt_id="r")
        assert (nexus.plugin.cluster is not None) is change_stream
        raw: Any = pymongo.MongoClient(nx_server.uri, serverSelectionTimeoutMS=5000)
        try:
            users = raw[database]["nexus_users"].count_documents({})
            processes = raw[database]["nexus_processes"].count_documents({})
            assert (users, processes) == ((1, 1) if change_stream else (0, 0))
            assert raw[database]["nexus_messages"].count_documents({"destination": "/topic/chat/c1"}) == 1
        finally:
            client.close()
            raw.drop_database(database)
            raw.close()

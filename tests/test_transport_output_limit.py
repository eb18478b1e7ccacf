"""nexus_tornado.transport.output_limit: counting what a client has not taken yet.

The end-to-end slow-consumer cases (a reader that stops reading, a poller that stops
polling) are in tests/test_security_limits.py; here each place output can wait in is
counted on its own.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Optional

from nexus_tornado.transport.output_limit import unsent_bytes, websocket_stream


def stream(buffered: int) -> Any:
    return SimpleNamespace(_write_buffer=b"x" * buffered)


def session(handler: Any = None, send_queue: Optional[str] = "") -> Any:
    return SimpleNamespace(handler=handler, send_queue=send_queue)


def test_nothing_anywhere_is_zero() -> None:
    assert unsent_bytes(session()) == 0
    assert unsent_bytes(SimpleNamespace()) == 0  # a session without the attributes


def test_a_websocket_handler_counts_its_own_output() -> None:
    handler = SimpleNamespace(unsent_bytes=lambda: 700, ws_connection=SimpleNamespace(stream=stream(50)))
    # The handler's own count includes its stream; it is not counted twice.
    assert unsent_bytes(session(handler)) == 700


def test_a_websocket_connection_stream_without_a_counting_handler() -> None:
    handler = SimpleNamespace(ws_connection=SimpleNamespace(stream=stream(123)))
    assert unsent_bytes(session(handler, send_queue="abc")) == 126


def test_a_streaming_response_and_the_session_queue_add_up() -> None:
    handler = SimpleNamespace(request=SimpleNamespace(connection=SimpleNamespace(stream=stream(1000))))
    assert unsent_bytes(session(handler, send_queue='"m1","m2"')) == 1009


def test_a_polling_session_without_a_poll_counts_its_queue() -> None:
    assert unsent_bytes(session(None, send_queue="x" * 4096)) == 4096


def test_a_stream_without_a_write_buffer_counts_as_empty() -> None:
    handler = SimpleNamespace(request=SimpleNamespace(connection=SimpleNamespace(stream=object())))
    assert unsent_bytes(session(handler, send_queue="ab")) == 2


def test_the_websocket_stream_is_found_only_for_websocket_handlers() -> None:
    ws_stream = stream(0)
    assert websocket_stream(session(SimpleNamespace(ws_connection=SimpleNamespace(stream=ws_stream)))) is ws_stream
    http = SimpleNamespace(request=SimpleNamespace(connection=SimpleNamespace(stream=stream(0))))
    assert websocket_stream(session(http)) is None  # keep-alive HTTP outlives the session
    assert websocket_stream(session()) is None and websocket_stream(None) is None

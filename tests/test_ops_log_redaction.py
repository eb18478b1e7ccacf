"""nexus_tornado.ops.log_redaction: no ``access_token`` value in Tornado's log lines."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from nexus_tornado.ops import log_redaction


@pytest.mark.parametrize(
    "line, expected",
    [
        ("101 GET /stomp/websocket?access_token=eyJ.a-b_c.d%3D (127.0.0.1) 0.69ms",
         "101 GET /stomp/websocket?access_token=*** (127.0.0.1) 0.69ms"),
        ("GET /stomp/1/a/xhr?x=1&ACCESS_TOKEN=eyJ.x.y&t=2", "GET /stomp/1/a/xhr?x=1&ACCESS_TOKEN=***&t=2"),
        ("HTTPServerRequest(uri='/stomp/websocket?access_token=eyJ.x.y', method='GET')",
         "HTTPServerRequest(uri='/stomp/websocket?access_token=***', method='GET')"),
        ("GET /stomp/info (127.0.0.1)", "GET /stomp/info (127.0.0.1)"),
    ],
)
def test_redaction_keeps_the_line_but_not_the_token(line: str, expected: str) -> None:
    assert log_redaction.redact(line) == expected


def test_redacting_filter_rewrites_formatted_records_and_keeps_them() -> None:
    args = ("GET /s?access_token=eyJ.x.y", {"uri": "/s?access_token=eyJ.x.y"})
    record = logging.LogRecord("tornado.application", logging.ERROR, __file__, 1,
                               "Uncaught exception %s\n%r", args, None)
    assert log_redaction.TokenRedactor().filter(record) is True
    assert "eyJ" not in record.getMessage()
    assert record.getMessage().startswith("Uncaught exception GET /s?access_token=***")


@pytest.fixture
def scratch_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("nexus_tornado.test.redaction")
    yield logger
    for f in list(logger.filters):
        logger.removeFilter(f)


def test_install_adds_one_filter_per_logger_however_often_it_runs(scratch_logger: logging.Logger) -> None:
    log_redaction.install([scratch_logger.name])
    log_redaction.install([scratch_logger.name])
    assert sum(isinstance(f, log_redaction.TokenRedactor) for f in scratch_logger.filters) == 1


def test_installed_filter_redacts_what_the_logger_emits(
    scratch_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    log_redaction.install([scratch_logger.name])
    with caplog.at_level(logging.INFO, logger=scratch_logger.name):
        scratch_logger.info("101 GET %s (127.0.0.1)", "/stomp/websocket?access_token=eyJ.sig.nature")
    assert [r.getMessage() for r in caplog.records] == ["101 GET /stomp/websocket?access_token=*** (127.0.0.1)"]


def test_tornados_loggers_are_the_default() -> None:
    assert log_redaction.TORNADO_LOGGERS == ("tornado.access", "tornado.application", "tornado.general")

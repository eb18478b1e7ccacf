"""The command line: options from flags, environment and config file; a real server
process that a STOMP client talks to; a clean shutdown on SIGTERM."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import stomp
from support.clients import RawWsClient
from support.command import CommandServer
from support.nexus import SECRET, make_token

from nexus_tornado.cli import build_parser, demo_secret, gather, server_option, settings_from
from nexus_tornado.errors import ConfigError
from nexus_tornado.settings import TRANSPORT_NAMES, Settings


def parse(argv: List[str], env: Any = None) -> Any:
    values = gather(build_parser().parse_args(argv), env or {})
    return values


def test_help_documents_every_setting() -> None:
    text = build_parser().format_help()
    for field in dataclasses.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
    for flag in ("--host", "--port", "--config", "--no-demo", "--log-level"):
        assert flag in text


def test_flags_beat_environment_beats_config_file(tmp_path: Path) -> None:
    config = tmp_path / "nexus.ini"
    config.write_text(
        "[nexus]\njwt_secret = %s\nport = 7001\nsends_per_minute = 5\nprefix = /file\n"
        "disabled_transports = jsonp,htmlfile\n" % SECRET
    )
    values = parse(
        ["--config", str(config), "--port", "7003"],
        {"NEXUS_PORT": "7002", "NEXUS_SENDS_PER_MINUTE": "7"},
    )
    settings = settings_from(values)
    assert server_option(values, "port") == 7003
    assert settings.sends_per_minute == 7
    assert settings.prefix == "/file"
    assert settings.disabled_transports == ("jsonp", "htmlfile")
    assert settings.jwt_secret == SECRET


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    key = tmp_path / "secret"
    key.write_text(SECRET)
    assert settings_from(parse(["--jwt-secret", "@%s" % key])).jwt_secret == SECRET
    signing = tmp_path / "private.pem"
    signing.write_text("-----BEGIN PRIVATE KEY-----\n...")
    settings = settings_from(parse(["--jwt-secret", SECRET, "--jwt-signing-key", "@%s" % signing]))
    assert settings.jwt_signing_key.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--jwt-secret", "short"], "at least 32 bytes"),
        (["--jwt-secret", SECRET, "--jwt-algorithms", "none"], "not supported"),
        (["--jwt-secret", SECRET, "--max-frame-size", "lots"], "expected a whole number"),
        (["--jwt-secret", SECRET, "--heartbeat", "1,2,3"], "heartbeat"),
        (["--jwt-secret", SECRET, "--prefix", "stomp"], "prefix"),
    ],
)
def test_invalid_settings_are_reported_by_name(argv: List[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from(parse(argv))


def test_the_demo_secret_comes_from_its_file_or_the_state_directory(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen" / "secret"
    secret, level, note = demo_secret(parse(["--demo-secret-file", str(chosen)]), {})
    assert chosen.read_text().strip() == secret
    assert level == logging.INFO and note.endswith("%s (made now)" % chosen)
    assert demo_secret(parse([], {"NEXUS_DEMO_SECRET_FILE": str(chosen)}), {})[0] == secret
    state = tmp_path / "state"
    kept = demo_secret(parse([]), {"XDG_STATE_HOME": str(state)})[0]
    assert (state / "nexus-tornado" / "demo-jwt-secret").read_text().strip() == kept != secret


def test_an_unusable_demo_secret_file_falls_back_to_a_random_secret(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    values = parse(["--demo-secret-file", str(blocker / "secret")])  # a file is no directory
    (first, level, note), (second, _, _) = demo_secret(values, {}), demo_secret(values, {})
    assert len(first) == 64 and first != second
    assert level == logging.WARNING and "is unusable" in note and "random secret" in note
    (tmp_path / "short").write_text("short")
    with pytest.raises(ConfigError, match="fewer than 32 characters"):
        demo_secret(parse(["--demo-secret-file", str(tmp_path / "short")]), {})


def test_unknown_config_key_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.ini"
    config.write_text("[nexus]\njwt_secrett = x\n")
    with pytest.raises(ConfigError, match="unknown option"):
        parse(["--config", str(config)])


def test_help_shows_how_lists_are_written_and_which_transport_names_exist() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "--disabled-transports A,B,..." in text
    assert "jsonp-polling" in text and "e.g. jsonp,htmlfile" in text
    assert "--heartbeat N,N" in text and "--max-frame-size INTEGER" in text
    assert '("' not in text  # no Python tuple syntax, which the options do not take


#: Bad options as a new user would try them: the option, what was wrong, what is accepted.
BAD_OPTIONS = [
    (["--mongo-uri", "notamongouri"], {}, "--mongo-uri: expected mongodb://host"),
    (["--mongo-uri", "mongodb://localhost:notaport"], {}, "--mongo-uri: Port contains non-digit"),
    (["--allowed-origins", "example.com"], {}, "--allowed-origins: 'example.com' is not an origin; expected scheme://host[:port]"),
    (["--disabled-transports", "bogus"], {}, "--disabled-transports: unknown transport 'bogus' (accepted: websocket,"),
    (["--disabled-transports", '("jsonp", "htmlfile")'], {}, "--disabled-transports: unknown transport '(\"jsonp\"'"),
    (["--no-demo"], {}, "--jwt-secret is required with --no-demo: give --jwt-secret SECRET"),
    (["--jwt-secret", "short"], {}, "--jwt-secret must be at least 32 bytes"),
    (["--jwt-secret", "@/nonexistent/secret"], {}, "--jwt-secret: cannot read /nonexistent/secret"),
    (["--max-frame-size", "lots"], {}, "--max-frame-size: expected a whole number, not 'lots'"),
    (["--idle-timeout", "-5"], {}, "--idle-timeout: expected a positive number"),
    (["--port", "70000"], {}, "--port: expected 0 to 65535"),
    (["--log-level", "chatty"], {}, "--log-level: expected one of DEBUG, INFO, WARNING, ERROR"),
    ([], {"NEXUS_SENDS_PER_MINUTE": "many"}, "--sends-per-minute (from NEXUS_SENDS_PER_MINUTE): expected a whole number"),
    (["--bogus-option"], {}, "unrecognized arguments: --bogus-option"),
    (["--admin-port", "-1"], {}, "--admin-port: expected 0 to 65535"),
    # The driver only warns about an option it does not know, and goes on without it.
    (["--mongo-uri", "mongodb://127.0.0.1:1/nexus?w=majority&retryWrite=true"], {},
     "--mongo-uri: unknown option 'retryWrite' (the driver would ignore it)"),
]


@pytest.mark.parametrize("argv, env, message", BAD_OPTIONS, ids=[" ".join(c[0]) or str(c[1]) for c in BAD_OPTIONS])
def test_a_bad_option_ends_the_command_with_one_line_and_status_2(
    argv: List[str], env: Any, message: str, tmp_path: Path
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "nexus_tornado", "--port", "0", "--admin-port", "0"] + argv,
        cwd=str(tmp_path), env=environ, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nexus-tornado: error: ") and message in lines[0], lines[0]
    assert result.stdout == ""


def test_a_bad_value_in_the_config_file_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "nexus.ini"
    config.write_text("[nexus]\ndisabled_transports = jsonp-polling, nope\n")
    with pytest.raises(ConfigError, match="unknown transport 'nope'"):
        settings_from(parse(["--config", str(config), "--jwt-secret", SECRET]))
    result = subprocess.run(
        [sys.executable, "-m", "nexus_tornado", "--config", str(config)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "nexus-tornado: error: --disabled-transports (from %s [nexus] disabled_transports): "
        "unknown transport 'nope' (accepted: %s)\n" % (config, ", ".join(TRANSPORT_NAMES))
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CommandServer]:
    command = CommandServer(tmp_path)
    command.start()
    try:
        yield command
    finally:
        command.kill()


def test_the_command_serves_stomp_and_the_demo_page_and_stops_cleanly(server: CommandServer) -> None:
    conn = stomp.WSStompConnection([("127.0.0.1", server.port)], ws_path="/stomp/websocket")
    received: List[Any] = []

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame: Any) -> None:
            received.append(frame)

    conn.set_listener("l", Listener())
    conn.connect(passcode=make_token("ivy", secret=server.secret, chats=["cli"]), wait=True)
    conn.subscribe("/topic/chat/cli", id="1")
    body = json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-25T10:00:00Z", "senderId": "ivy",
                       "payload": {"chatId": "cli", "content": "hi", "contentType": "TEXT"}})
    conn.send("/topic/chat/cli", body, content_type="application/json")
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert received and received[0].headers["seq"] == "1"
    conn.disconnect()

    import urllib.request

    with urllib.request.urlopen("http://127.0.0.1:%d/" % server.port, timeout=10) as page:
        assert page.status == 200 and b"<html" in page.read().lower()
    # The iframe transports load the same (vendored) sockjs-client as the demo page.
    with urllib.request.urlopen("http://127.0.0.1:%d/stomp/iframe.html" % server.port, timeout=10) as page:
        assert b'src="/static/vendor/sockjs.min.js"' in page.read()

    watcher = RawWsClient("ws://127.0.0.1:%d/stomp/websocket" % server.port)
    watcher.connect(make_token("jay", secret=server.secret))
    assert server.stop(signal.SIGTERM) == 0
    assert watcher.wait_closed() == 1001
    # With a reconnect delay drawn at random up to reconnect_delay (10 s by default).
    reason = re.match(r"^server shutting down \(reconnect in (\d+) ms\)$", watcher.close_reason)
    assert reason and int(reason.group(1)) <= 10_000, watcher.close_reason
    log = server.output()
    assert "Traceback" not in log
    assert "stopped" in log


def test_service_token_prints_a_token_with_the_service_role(capsys: pytest.CaptureFixture) -> None:
    from nexus_tornado.cli import main
    from nexus_tornado.policy.auth import TokenVerifier

    assert main(["--service-token", "billing", "--jwt-secret", SECRET, "--service-token-days", "2"]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(SECRET).verify(token)
    assert principal.user_id == "billing" and principal.roles == {"service"}
    assert principal.claims["exp"] - principal.claims["iat"] == 2 * 86400
    with pytest.raises(SystemExit):
        main(["--service-token", "billing"])  # no secret: nothing to sign with
    assert "jwt-secret is required with --service-token" in capsys.readouterr().err


def run_command(tmp_path: Path, *argv: str) -> "subprocess.CompletedProcess[str]":
    """The command with ``argv`` (no demo, a secret, free ports unless ``argv`` says),
    away from the environment's NEXUS_* variables; its output."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    return subprocess.run(
        [sys.executable, "-m", "nexus_tornado", "--port", "0", "--admin-port", "0", "--no-demo",
         "--jwt-secret", SECRET] + list(argv),
        cwd=str(tmp_path), env=environ, capture_output=True, text=True, timeout=60,
    )


def one_error_line(result: "subprocess.CompletedProcess[str]") -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def test_an_unreachable_store_ends_the_command_with_one_line_naming_it(tmp_path: Path) -> None:
    from support.mongo import free_port

    port = free_port()  # nothing listens there
    result = run_command(tmp_path, "--mongo-uri", "mongodb://127.0.0.1:%d/nexus" % port, "--mongo-timeout", "0.5")
    assert result.returncode == 3  # EXIT_STORE, documented in docs/operations.md
    line = one_error_line(result)
    assert (
        "ERROR nexus_tornado.cli: cannot start: MongoDB at 127.0.0.1:%d did not answer within 0.5 s "
        "(--mongo-uri, --mongo-timeout): " % port
    ) in line, line
    assert line.endswith("Connection refused"), line  # the reason, not the driver's topology dump


@pytest.mark.parametrize("which", ["clients", "admin"])
def test_a_port_in_use_ends_the_command_with_one_line_and_status_4(tmp_path: Path, which: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        flag = "--port" if which == "clients" else "--admin-port"
        result = run_command(tmp_path, flag, str(port))
    assert result.returncode == 4, result.stderr  # EXIT_LISTEN
    line = one_error_line(result)
    what = "clients (--host, --port)" if which == "clients" else "the operator's endpoints (--admin-host, --admin-port)"
    assert "ERROR nexus_tornado.cli: cannot listen on 127.0.0.1:%d for %s: Address already in use" % (port, what) in line


def test_an_address_not_on_this_machine_ends_the_command_with_one_line_and_status_4(tmp_path: Path) -> None:
    result = run_command(tmp_path, "--host", "192.0.2.1")  # TEST-NET-1: never a local address
    assert result.returncode == 4, result.stderr
    line = one_error_line(result)
    assert "cannot listen on 192.0.2.1:0 for clients (--host, --port): Cannot assign requested address" in line


def test_percent_signs_in_the_config_file_are_taken_literally(tmp_path: Path) -> None:
    # A password with '@' and '%' is percent-encoded in a MongoDB URI, as the driver requires.
    from support.mongo import free_port

    port = free_port()
    uri = "mongodb://nexus:p%%40ss%%25word@127.0.0.1:%d/nexus?authSource=admin" % port
    config = tmp_path / "nexus.ini"
    config.write_text("[nexus]\nmongo_uri = %s\nmongo_timeout = 0.5\njwt_secret = 100%%-%s\n" % (uri, SECRET))
    settings = settings_from(parse(["--config", str(config)]))
    assert settings.mongo_uri == uri and settings.jwt_secret == "100%-" + SECRET
    # The command takes it as far as the store (which is not there), credentials unlogged.
    result = run_command(tmp_path, "--config", str(config))
    assert result.returncode == 3, result.stderr
    line = one_error_line(result)
    assert "MongoDB at 127.0.0.1:%d did not answer" % port in line and "p%40ss" not in line


#: Config files that cannot be used: what they hold, what the one line says.
BAD_CONFIG_FILES = [
    ("jwt_secret = x\n", "is not an INI file: line 1 comes before any [nexus] section header"),
    ("{\"nexus\": {\"port\": 1}}\n", "is not an INI file: line 1 comes before any [nexus] section header"),
    ("[nexus]\nport = 1\nwhat is this\n", "is not an INI file"),
    ("[nexus]\nport = 8001\nlog_level = INFO\nport = 8002\n", "'port' is given twice in [nexus] (line 4); keep one"),
    ("[nexus]\nport = 8001\n[nexus]\nport = 8002\n", "section [nexus] appears twice (line 3); keep one"),
    ("[server]\nport = 8001\n", "has no [nexus] section (sections found: [server]); the options go under [nexus]"),
    ("", "has no [nexus] section (sections found: none)"),
]


@pytest.mark.parametrize("text, message", BAD_CONFIG_FILES, ids=[m.split(" (")[0] for _, m in BAD_CONFIG_FILES])
def test_a_config_file_that_cannot_be_used_ends_the_command_with_one_line_and_status_2(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "nexus.ini"
    config.write_text(text)
    result = run_command(tmp_path, "--config", str(config))
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith("nexus-tornado: error: config file %s " % config) or line.startswith(
        "nexus-tornado: error: config file %s:" % config
    ), line
    assert message in line, line


def test_operator_endpoints_answer_on_the_admin_address_not_the_clients_port(server: CommandServer) -> None:
    for path in ("/metrics", "/status", "/status/data.json"):
        assert server.request("GET", path)[0] == 404, path
        assert server.request("GET", path, admin=True)[0] == 200, path
    for admin in (False, True):  # load balancers probe the clients' port; monitoring may use either
        assert server.request("GET", "/healthz", admin=admin) == (200, {"status": "ok"})
        status, body = server.request("GET", "/readyz", admin=admin)
        assert status == 200 and body["ready"] is True
    assert "operator's endpoints on http://127.0.0.1:" in server.output()


def test_without_metrics_and_status_no_admin_address_is_opened(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:  # an admin port that would fail, were it tried
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        command = CommandServer(
            tmp_path, ["--metrics-path", "", "--status-path", "", "--admin-port", str(taken.getsockname()[1])]
        )
        command.start()
        try:
            assert command.request("GET", "/healthz")[0] == 200
            assert "operator's endpoints" not in command.output()
        finally:
            command.kill()


def test_info_tells_the_allowed_origins(tmp_path: Path) -> None:
    command = CommandServer(tmp_path, ["--allowed-origins", "https://app.example.com,http://localhost:8080"])
    command.start()
    try:
        status, info = command.request("GET", "/stomp/info")
        assert status == 200 and info["origins"] == ["app.example.com:443", "localhost:8080"]
    finally:
        command.kill()

"""``nexus-tornado``: serve the plugin (and the demo app) from the command line.

Every setting comes, in this order of precedence, from a ``--option``, a ``NEXUS_*``
environment variable, the ``[nexus]`` section of the ``--config`` file, or its default::

    nexus-tornado --port 8888 --jwt-secret s3cret
    NEXUS_JWT_SECRET=s3cret NEXUS_MONGO_URI=mongodb://db/nexus nexus-tornado
    nexus-tornado --config config/nexus.ini

Clients reach ``--host``/``--port``; the operator's endpoints (metrics, the operator's
page) answer only on ``--admin-host``/``--admin-port``, loopback by default.

Ctrl-C or SIGTERM shut down cleanly within ``--shutdown-timeout``: accepted messages
are persisted, every client gets close code 1001 with a jittered reconnect delay
(docs/operations.md). A bad option ends the command with one line and exit status 2;
a start-up that fails at run time with one line and status 3 (the store) or 4 (an
address to listen on).
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import dataclasses
import gc
import importlib
import logging
import os
import secrets
import signal
import sys
import textwrap
import time
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import tornado.web
from tornado.netutil import bind_sockets

from . import __version__
from .errors import ConfigError, NexusError
from .settings import ENV_PREFIX, FIELDS, Settings, convert_option, field_type, type_syntax

log = logging.getLogger("nexus_tornado.cli")

#: The demo page's vendored sockjs-client, served by the demo app.
DEMO_SOCKJS_URL = "/static/vendor/sockjs.min.js"
CONFIG_SECTION = "nexus"

#: Options of the command itself (not plugin settings): name -> (default, type, help).
SERVER_OPTIONS: Dict[str, Any] = {
    "host": ("127.0.0.1", str, "Interface to listen on for clients."),
    "port": (8888, int, "Port to listen on for clients (0: any free port, shown in the log)."),
    "admin_host": ("127.0.0.1", str, "Interface the operator's endpoints listen on (metrics, the operator's page, and liveness and readiness again): loopback, or an address only monitoring and operators reach. Never the public one."),
    "admin_port": (8889, int, "Port of the operator's endpoints (0: any free port, shown in the log); every process on a machine needs its own. Not opened when metrics_path and status_path are both empty."),
    "backlog": (1024, int, "Connections the kernel queues before the server accepts them (a crowd reconnecting at once needs more than the usual 128)."),
    "demo": (True, bool, "Mount the demo app (page, demo-only login) next to the plugin."),
    "demo_secret_file": ("", str, "With the demo and no --jwt-secret: the file that keeps the demo's JWT secret across restarts, made on first use; none given: $XDG_STATE_HOME/nexus-tornado/demo-jwt-secret ($XDG_STATE_HOME is ~/.local/state by default)."),
    "log_level": ("INFO", str, "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    "log_format": ("text", str, "Log line format: text, or json (one JSON object per line, with the connection's fields)."),
    "service_token": ("", str, "Print a service token with this name for the HTTP publishing API ({prefix}/api/publish), valid --service-token-days, and exit (needs the server's --jwt-secret)."),
    "service_token_days": (30, int, "Lifetime of the token --service-token prints, days."),
}

#: Accepted values of the server options that take one of a few words.
SERVER_CHOICES: Dict[str, Sequence[str]] = {
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "log_format": ("text", "json"),
}

#: Settings the command sets differently from a plugin's defaults: the operations
#: endpoints are mounted (``--metrics-path ''`` etc. turns one off). Metrics and the
#: operator's page are served on the admin address only; liveness and readiness on
#: both addresses (load balancers probe the clients' port; the answers name nothing).
COMMAND_DEFAULTS: Dict[str, Any] = {
    "metrics_path": "/metrics",
    "health_path": "/healthz",
    "readiness_path": "/readyz",
    "status_path": "/status",
}

#: Exit status when a second signal cut a shutdown short.
EXIT_FAILURE = 1
#: Exit status for a bad option or value, or config file (as argparse's own errors).
EXIT_USAGE = 2
#: Exit status when the store (MongoDB) cannot be reached at start.
EXIT_STORE = 3
#: Exit status when an address cannot be listened on (port in use, no such address).
EXIT_LISTEN = 4


class StartupError(Exception):
    """The server could not start: ``line`` says what failed, ``status`` is the exit status."""

    def __init__(self, line: str, status: int) -> None:
        super().__init__(line)
        self.line = line
        self.status = status


def _convert(name: str, value: Any, kind: Any) -> Any:
    return convert_option(name, value, kind)


class _Formatter(argparse.HelpFormatter):
    """Wraps help text without breaking names at hyphens (``jsonp-polling``)."""

    def _split_lines(self, text: str, width: int) -> List[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the option and what is wrong), exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, "%s: error: %s (see --help)\n" % (self.prog, message))


def option_names(name: str, source: Optional[str] = None) -> str:
    """How to refer to option ``name`` in an error: its flag, and where the value came from."""
    flag = "--" + name.replace("_", "-")
    return flag if source is None or source == flag else "%s (from %s)" % (flag, source)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nexus-tornado",
        formatter_class=_Formatter,
        description="Serve nexus-tornado: STOMP 1.2 over SockJS and raw WebSocket, with "
        "the demo app. Each option can also be set as NEXUS_<OPTION> in the environment "
        "(e.g. NEXUS_JWT_SECRET) or as <option> in the [nexus] section of --config.",
    )
    parser.add_argument("--version", action="version", version="nexus-tornado %s" % __version__)
    parser.add_argument("--config", metavar="FILE", help="INI file with a [nexus] section (see config/nexus.example.ini).")
    for name, (default, kind, help_text) in SERVER_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help="%s (default: %s)" % (help_text, "on" if default else "off"))
        else:
            choices = SERVER_CHOICES.get(name)
            metavar = "{%s}" % ",".join(choices) if choices else ("INTEGER" if kind is int else "TEXT")
            parser.add_argument(flag, dest=name, default=None, metavar=metavar,
                                help="%s (default: %s)" % (help_text, default if default != "" else "none"))
    for field in dataclasses.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "").replace("``", "")
        shown = "(default: %s)" % shown_default(field.name)
        if field.name == "jwt_secret":
            shown = "(required unless --demo, which keeps one in --demo-secret-file; @FILE reads it from a file)"
        elif field.name == "jwt_signing_key":
            shown = "(default: none, i.e. jwt_secret; @FILE reads it from a file)"
        kind = field_type(field.name)
        metavar = type_syntax(kind)
        if metavar == "LIST":
            item = typing.get_args(kind)[0]
            metavar = "N,N" if item is int else "A,B,..."
        parser.add_argument(flag, dest=field.name, default=None, metavar=metavar,
                            help="%s %s" % (help_text, shown))
    return parser


def shown_default(name: str) -> str:
    """A setting's default as the command applies it, written as it would be given."""
    default = COMMAND_DEFAULTS.get(name, FIELDS[name].default)
    if isinstance(default, tuple):
        default = ",".join(str(d) for d in default)
    return "none" if default in ("", None) else str(default)


def gather(
    args: argparse.Namespace, environ: Mapping[str, str], sources: Optional[Dict[str, str]] = None
) -> Dict[str, Any]:
    """Merge options: command line over environment over config file.

    ``sources``, when given, is filled with where each value came from (a flag, an
    environment variable or ``file [nexus] key``), for error messages.
    """
    values: Dict[str, Any] = {}
    if sources is None:
        sources = {}
    names = list(SERVER_OPTIONS) + [f.name for f in dataclasses.fields(Settings)]
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        for key, value in read_config(config_path):
            name = key.replace("-", "_")
            if name not in names:
                raise ConfigError(
                    "%s: unknown option %r in [%s] (the options are those of --help, "
                    "without the dashes)" % (config_path, key, CONFIG_SECTION)
                )
            values[name] = value
            sources[name] = "%s [%s] %s" % (config_path, CONFIG_SECTION, key)
    for name in names:
        env = environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = env
            sources[name] = ENV_PREFIX + name.upper()
    for name in names:
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = flag
            sources[name] = "--" + name.replace("_", "-")
    return values


def read_config(path: str) -> List[Tuple[str, str]]:
    """The keys and values of the ``[nexus]`` section of INI file ``path``, as written.

    Values are taken literally (no ``%`` interpolation: a percent-encoded MongoDB
    password is a value like any other). A file that cannot be read or parsed, that
    repeats a key or section, or that has no ``[nexus]`` section is a ``ConfigError``
    naming the file and what is wrong.
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise ConfigError("config file %s is not UTF-8 text" % path) from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(
            "config file %s is not an INI file: line %d comes before any [%s] section header"
            % (path, exc.lineno, CONFIG_SECTION)
        ) from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(
            "config file %s: %r is given twice in [%s] (line %s); keep one"
            % (path, exc.option, exc.section, exc.lineno)
        ) from None
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(
            "config file %s: section [%s] appears twice (line %s); keep one"
            % (path, exc.section, exc.lineno or 1)
        ) from None
    except configparser.Error as exc:
        raise ConfigError("config file %s is not an INI file: %s" % (path, " ".join(exc.message.split()))) from None
    if not parser.has_section(CONFIG_SECTION):
        found = ", ".join("[%s]" % name for name in parser.sections()) or "none"
        raise ConfigError(
            "config file %s has no [%s] section (sections found: %s); the options go under [%s]"
            % (path, CONFIG_SECTION, found, CONFIG_SECTION)
        )
    return list(parser.items(CONFIG_SECTION))


def settings_from(values: Mapping[str, Any], command_defaults: bool = False) -> Settings:
    """The plugin settings in ``values``; with ``command_defaults``, the command's own
    defaults (:data:`COMMAND_DEFAULTS`) fill what ``values`` lacks."""
    kwargs: Dict[str, Any] = dict(COMMAND_DEFAULTS) if command_defaults else {}
    for field in dataclasses.fields(Settings):
        if field.name in values:
            kwargs[field.name] = _convert(field.name, values[field.name], field_type(field.name))
    for name in ("jwt_secret", "jwt_signing_key"):  # keys may live in files: @FILE
        secret = kwargs.get(name, "")
        if isinstance(secret, str) and secret.startswith("@"):
            try:
                with open(secret[1:], encoding="utf-8") as handle:
                    kwargs[name] = handle.read()
            except OSError as exc:
                raise ConfigError("%s: cannot read %s: %s" % (name, secret[1:], exc.strerror)) from None
    return Settings(**kwargs)


def server_option(values: Mapping[str, Any], name: str) -> Any:
    default, kind, _ = SERVER_OPTIONS[name]
    value = _convert(name, values.get(name, default), kind)
    choices = SERVER_CHOICES.get(name)
    if choices is not None:
        matched = [c for c in choices if c.lower() == str(value).strip().lower()]
        if not matched:
            raise ConfigError("%s: expected one of %s, not %r" % (name, ", ".join(choices), value))
        value = matched[0]
    if name in ("port", "admin_port") and not 0 <= value <= 65535:
        raise ConfigError("%s: expected 0 to 65535, not %d" % (name, value))
    if name == "backlog" and value <= 0:
        raise ConfigError("backlog: expected a positive whole number, not %d" % value)
    return value


def describe_error(exc: NexusError, sources: Mapping[str, str]) -> str:
    """``exc``'s message with its leading option name made an option the user typed
    (``--mongo-uri (from NEXUS_MONGO_URI): ...``); one line."""
    message = " ".join(exc.message.split())
    head = message.split(":", 1)[0].split(" ", 1)[0]
    if head in FIELDS or head in SERVER_OPTIONS:
        message = option_names(head, sources.get(head)) + message[len(head):]
    return message


def demo_secret(values: Mapping[str, Any], environ: Mapping[str, str]) -> Tuple[str, int, str]:
    """The demo's JWT secret when none is configured, and a line to log about it (level,
    text; logging starts once every option is known good): kept
    in a file, so that a restarted server accepts the tokens open pages hold; a random
    one for this run only when that file can be neither read nor made."""
    tokens = importlib.import_module("nexus_tornado.demo.tokens")
    configured = server_option(values, "demo_secret_file")
    path = Path(configured) if configured else tokens.default_secret_path(environ)
    try:
        secret, created = tokens.stable_secret(path)
    except OSError as exc:
        return secrets.token_hex(32), logging.WARNING, (
            "no --jwt-secret given and the demo secret file %s is unusable (%s): signing demo "
            "tokens with a random secret; pages will need a new token after a restart"
            % (path, exc.strerror or exc)
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return str(secret), logging.INFO, "no --jwt-secret given: signing demo tokens with the secret in %s (%s)" % (
        path, "made now" if created else "kept across restarts"
    )


#: Cyclic garbage collector thresholds while serving (Python's default: 700, 10, 10).
#: The young generation is collected after this many net container allocations; a
#: busy server allocates them quickly, and each full collection walks every
#: connection's objects (tens of milliseconds at a few thousand connections), so
#: collections are made rarer.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Freeze what start-up allocated and collect less often (see docs/benchmarks.md).

    ``gc.freeze()`` moves every object alive now (modules, classes, settings, the
    application) out of the collector's reach, so no later collection walks them again.
    This is the command's choice for its own process: a host application that mounts
    the plugin owns its process and decides for itself.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def mongo_hosts(uri: str) -> str:
    """The host list of a MongoDB URI, without credentials (for log lines)."""
    return uri.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0].split("?", 1)[0]


def listen(host: str, port: int, backlog: int, what: str, options: str) -> List[Any]:
    """Bound listening sockets for ``host:port``, or a :class:`StartupError` naming
    ``what`` they are for and the ``options`` that chose the address."""
    try:
        return bind_sockets(port, host, backlog=backlog)
    except OSError as exc:
        raise StartupError(
            "cannot listen on %s:%d for %s (%s): %s" % (host, port, what, options, exc.strerror or exc),
            EXIT_LISTEN,
        ) from None


def store_failure(settings: Settings, exc: NexusError) -> str:
    """One line on why the store did not answer at start (the driver's reason, without
    its topology dump)."""
    detail = exc.log_detail
    for cut in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        detail = detail.split(cut, 1)[0]
    return "cannot start: MongoDB at %s did not answer within %g s (--mongo-uri, --mongo-timeout): %s" % (
        mongo_hosts(settings.mongo_uri), settings.mongo_timeout, " ".join(detail.split()),
    )


def _port(sockets: Sequence[Any]) -> int:
    """The port actually bound (for a port of 0)."""
    return int(sockets[0].getsockname()[1])


async def serve(
    settings: Settings, host: str, port: int, demo: bool, backlog: int = 1024,
    secret_note: Optional[Tuple[int, str]] = None, admin: Optional[Tuple[str, int]] = None,
) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly (``secret_note``: where the
    demo's secret came from, logged once the server started; ``admin``: the address of
    the operator's endpoints, if any are mounted). Raises :class:`StartupError`
    when an address cannot be listened on or the store cannot be reached."""
    from .http_server import NexusHTTPServer, server_options
    from .host.plugin import NexusPlugin

    plugin = NexusPlugin(settings)
    urls: List[Any] = plugin.urls
    if demo:
        # handlers/ is installed as nexus_tornado.demo (setup.cfg maps it there).
        demo_app = importlib.import_module("nexus_tornado.demo")
        urls = urls + demo_app.demo_urls(plugin)
    app = tornado.web.Application(urls)
    admin_urls = plugin.admin_urls if settings.metrics_path or settings.status_path else []
    # Addresses first: a port in use is reported at once, not after the store answered.
    sockets = listen(host, port, backlog, "clients", "--host, --port")
    admin_sockets: List[Any] = []
    try:
        if admin is not None and admin_urls:
            admin_sockets = listen(admin[0], admin[1], 128, "the operator's endpoints", "--admin-host, --admin-port")
        try:
            await plugin.start()
        except NexusError as exc:
            raise StartupError(store_failure(settings, exc), EXIT_STORE) from None
    except BaseException:
        for sock in sockets + admin_sockets:
            sock.close()
        raise
    if secret_note is not None:
        log.log(*secret_note)
    # Header and body timeouts (slowloris), and an accept loop that pauses rather than
    # spins when descriptors run out (see nexus_tornado.http_server).
    server = NexusHTTPServer(app, **server_options(settings))
    server.add_sockets(sockets)
    servers = [server]
    if admin_sockets:
        admin_server = NexusHTTPServer(tornado.web.Application(admin_urls), **server_options(settings))
        admin_server.add_sockets(admin_sockets)
        servers.append(admin_server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = "MongoDB" if settings.mongo_uri else "in-memory store"
    log.info(
        "nexus-tornado %s listening on http://%s:%d (SockJS %s, WebSocket %s/websocket, %s%s)",
        __version__, host, _port(sockets), settings.prefix, settings.prefix, store,
        ", demo app at /" if demo else "",
    )
    if demo and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the demo app's login issues tokens to anyone who asks: do not expose it")
    tune_gc()
    if settings.health_path or settings.readiness_path:
        log.info(
            "liveness %s, readiness %s (on both addresses)",
            *(getattr(settings, name) or "off" for name in ("health_path", "readiness_path")),
        )
    if admin is not None and admin_sockets:
        log.info(
            "operator's endpoints on http://%s:%d: metrics %s, operator's page %s",
            admin[0], _port(admin_sockets), *(getattr(settings, name) or "off" for name in ("metrics_path", "status_path")),
        )
    await stop.wait()
    started = time.monotonic()
    log.info("shutting down: no new connections; finishing accepted work (at most %g s)", settings.shutdown_timeout)
    for signum in (signal.SIGINT, signal.SIGTERM):
        # A second signal while draining: the operator wants out now.
        loop.add_signal_handler(signum, _exit_now)
    server.stop()
    await plugin.close()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(each.close_all_connections() for each in servers)), CLOSE_CONNECTIONS_SECONDS
        )
    except asyncio.TimeoutError:
        log.warning("some HTTP connections did not close in time")
    for each in servers[1:]:
        each.stop()
    log.info("stopped in %.1f s", time.monotonic() - started)


#: How long the last HTTP connections get to close once the plugin closed, seconds.
CLOSE_CONNECTIONS_SECONDS = 5.0


def _exit_now() -> None:
    log.warning("second signal during shutdown: exiting at once")
    logging.shutdown()
    os._exit(EXIT_FAILURE)


def print_service_token(settings: Settings, name: str, days: int) -> int:
    """Print a token with the service role for ``name`` (a backend service)."""
    from .policy.tokens import TokenIssuer

    if not settings.service_role:
        log.error("service_role is empty: the HTTP publishing API is off")
        return 2
    try:
        issued = TokenIssuer.from_settings(settings).issue(name, {"roles": [settings.service_role]}, ttl=days * 86400)
    except (ConfigError, ValueError) as exc:
        log.error("cannot issue a service token: %s", exc)
        return 2
    print(issued.token)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command; 0 after a clean stop, 2 for a bad option or config file, 3 when
    the store cannot be reached at start, 4 when an address cannot be listened on.

    A bad option or value ends the command at once with one line naming it and what is
    accepted (no traceback), before anything is opened or bound.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    sources: Dict[str, str] = {}
    try:
        values = gather(args, os.environ, sources)
        level = server_option(values, "log_level")
        log_format = server_option(values, "log_format")
        host = server_option(values, "host")
        port = server_option(values, "port")
        backlog = server_option(values, "backlog")
        demo = server_option(values, "demo")
        admin = (server_option(values, "admin_host"), server_option(values, "admin_port"))
        service_token = server_option(values, "service_token")
        if (service_token or not demo) and not values.get("jwt_secret"):
            raise ConfigError(
                "jwt_secret is required with %s: give --jwt-secret SECRET (or @FILE), "
                "%sJWT_SECRET or jwt_secret in the config file"
                % ("--service-token" if service_token else "--no-demo", ENV_PREFIX)
            )
        secret_note: Optional[Tuple[int, str]] = None
        if demo and not values.get("jwt_secret"):
            secret, note_level, note = demo_secret(values, os.environ)
            secret_note = (note_level, note)
            values = dict(values, jwt_secret=secret)
        if demo and not values.get("sockjs_url"):
            # The iframe transports must load the same sockjs-client as the page.
            values = dict(values, sockjs_url=DEMO_SOCKJS_URL)
        settings = settings_from(values, command_defaults=True)
    except NexusError as exc:
        parser.exit(EXIT_USAGE, "%s: error: %s\n" % (parser.prog, describe_error(exc, sources)))
    if service_token:
        return print_service_token(settings, service_token, server_option(values, "service_token_days"))
    from .ops.log_format import configure

    configure(level, log_format)
    try:
        asyncio.run(serve(settings, host, port, demo, backlog, secret_note, admin))
    except ConfigError as exc:  # found when the store is set up (e.g. a URI's options)
        parser.exit(EXIT_USAGE, "%s: error: %s\n" % (parser.prog, describe_error(exc, sources)))
    except StartupError as exc:
        log.error("%s", exc.line)
        return exc.status
    return 0

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``nexus-tornado``: serve the plugin (and the demo app) from the command line.

Every setting comes, in this order of precedence, from a ``--option``, a ``NEXUS_*``
environment variable, the ``[nexus]`` section of the ``--config`` file, or its default::

    nexus-tornado --port 8888 --jwt-secret s3cret
    NEXUS_JWT_SECRET=s3cret NEXUS_MONGO_URI=mongodb://db/nexus nexus-tornado
    nexus-tornado --config config/nexus.ini

Ctrl-C or SIGTERM shut down cleanly: accepted messages are persisted, every client gets
close code 1001 and reconnects elsewhere or later.
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
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import tornado.web
from tornado.netutil import bind_sockets

from . import __version__
from .errors import ConfigError
from .settings import Settings

log = logging.getLogger("nexus_tornado.cli")

ENV_PREFIX = "NEXUS_"
#: The demo page's vendored sockjs-client, served by the demo app.
DEMO_SOCKJS_URL = "/static/vendor/sockjs.min.js"
CONFIG_SECTION = "nexus"

#: Options of the command itself (not plugin settings): name -> (default, type, help).
SERVER_OPTIONS: Dict[str, Any] = {
    "host": ("127.0.0.1", str, "Interface to listen on."),
    "port": (8888, int, "Port to listen on (0: any free port, shown in the log)."),
    "backlog": (1024, int, "Connections the kernel queues before the server accepts them (a crowd reconnecting at once needs more than the usual 128)."),
    "demo": (True, bool, "Mount the demo app (page, demo-only login) next to the plugin."),
    "demo_secret_file": ("", str, "With the demo and no --jwt-secret: the file that keeps the demo's JWT secret across restarts, made on first use; none given: $XDG_STATE_HOME/nexus-tornado/demo-jwt-secret ($XDG_STATE_HOME is ~/.local/state by default)."),
    "log_level": ("INFO", str, "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    "service_token": ("", str, "Print a service token with this name for the HTTP publishing API ({prefix}/api/publish), valid --service-token-days, and exit (needs --jwt-secret, or --jwt-signing-key)."),
    "service_token_days": (30, int, "Lifetime of the token --service-token prints, days."),
}


def _kind(name: str) -> Any:
    hints = typing.get_type_hints(Settings)
    return hints[name]


def _convert(name: str, value: Any, kind: Any) -> Any:
    """Turn option text into the field's type (lists are comma-separated)."""
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(item(p) for p in parts)
        except ValueError:
            raise ConfigError("%s: expected a comma-separated list of %s" % (name, item.__name__)) from None
    if origin is typing.Union:  # Optional[str]
        return value or None
    if kind is bool:
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError("%s: expected true or false, not %r" % (name, value))
    try:
        return kind(value)
    except ValueError:
        raise ConfigError("%s: expected %s, not %r" % (name, kind.__name__, value)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus-tornado",
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
            parser.add_argument(flag, dest=name, default=None,
                                help="%s (default: %s)" % (help_text, default if default != "" else "none"))
    for field in dataclasses.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "").replace("``", "")
        default = field.default
        if isinstance(default, tuple):
            default = ",".join(str(d) for d in default)
        shown = "(default: %s)" % (default if default not in ("", None) else "none")
        if field.name == "jwt_secret":
            shown = "(required unless --demo, which keeps one in --demo-secret-file; @FILE reads it from a file)"
        elif field.name == "jwt_signing_key":
            shown = "(default: none, i.e. jwt_secret; @FILE reads it from a file)"
        parser.add_argument(flag, dest=field.name, default=None, metavar=field.name.upper(),
                            help="%s %s" % (help_text, shown))
    return parser


def gather(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> Dict[str, Any]:
    """Merge options: command line over environment over config file."""
    values: Dict[str, Any] = {}
    names = list(SERVER_OPTIONS) + [f.name for f in dataclasses.fields(Settings)]
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        parser = configparser.ConfigParser()
        if not parser.read(config_path):
            raise ConfigError("cannot read config file %s" % config_path)
        if parser.has_section(CONFIG_SECTION):
            for key, value in parser.items(CONFIG_SECTION):
                name = key.replace("-", "_")
                if name not in names:
                    raise ConfigError("%s: unknown option %r" % (config_path, key))
                values[name] = value
    for name in names:
        env = environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = env
    for name in names:
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = flag
    return values


def settings_from(values: Mapping[str, Any]) -> Settings:
    kwargs: Dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        if field.name in values:
            kwargs[field.name] = _convert(field.name, values[field.name], _kind(field.name))
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
    return _convert(name, values.get(name, default), kind)


def demo_secret(values: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The demo's JWT secret when none is configured: kept in a file, so that a
    restarted server accepts the tokens open pages hold; a random one for this run
    only when that file can be neither read nor made."""
    tokens = importlib.import_module("nexus_tornado.demo.tokens")
    configured = server_option(values, "demo_secret_file")
    path = Path(configured) if configured else tokens.default_secret_path(environ)
    try:
        secret, created = tokens.stable_secret(path)
    except OSError as exc:
        log.warning(
            "no --jwt-secret given and the demo secret file %s is unusable (%s): signing demo "
            "tokens with a random secret; pages will need a new token after a restart",
            path, exc.strerror or exc,
        )
        return secrets.token_hex(32)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    log.info(
        "no --jwt-secret given: signing demo tokens with the secret in %s (%s)",
        path, "made now" if created else "kept across restarts",
    )
    return str(secret)


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


async def serve(settings: Settings, host: str, port: int, demo: bool, backlog: int = 1024) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly."""
    from .server.http import NexusHTTPServer, server_options
    from .server.plugin import NexusPlugin

    plugin = NexusPlugin(settings)
    urls: List[Any] = plugin.urls
    if demo:
        # handlers/ is installed as nexus_tornado.demo (setup.cfg maps it there).
        demo_app = importlib.import_module("nexus_tornado.demo")
        urls = urls + demo_app.demo_urls(plugin)
    app = tornado.web.Application(urls)
    await plugin.start()
    sockets = bind_sockets(port, host, backlog=backlog)
    port = sockets[0].getsockname()[1]  # the port actually bound, for --port 0
    # Header and body timeouts (slowloris), and an accept loop that pauses rather than
    # spins when descriptors run out (see nexus_tornado.server.http).
    server = NexusHTTPServer(app, **server_options(settings))
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = "MongoDB" if settings.mongo_uri else "in-memory store"
    log.info(
        "nexus-tornado %s listening on http://%s:%d (SockJS %s, WebSocket %s/websocket, %s%s)",
        __version__, host, port, settings.prefix, settings.prefix, store,
        ", demo app at /" if demo else "",
    )
    if demo and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the demo app's login issues tokens to anyone who asks: do not expose it")
    tune_gc()
    await stop.wait()
    log.info("shutting down")
    server.stop()
    await plugin.close()
    await server.close_all_connections()
    log.info("stopped")


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        values = gather(args, os.environ)
        logging.basicConfig(
            level=str(server_option(values, "log_level")).upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        host = server_option(values, "host")
        port = server_option(values, "port")
        demo = server_option(values, "demo")
        service_token = server_option(values, "service_token")
        if service_token and not values.get("jwt_secret"):
            raise ConfigError("--service-token needs the server's --jwt-secret")
        if demo and not values.get("jwt_secret"):
            values = dict(values, jwt_secret=demo_secret(values, os.environ))
        if demo and not values.get("sockjs_url"):
            # The iframe transports must load the same sockjs-client as the page.
            values = dict(values, sockjs_url=DEMO_SOCKJS_URL)
        settings = settings_from(values)
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    if service_token:
        return print_service_token(settings, service_token, server_option(values, "service_token_days"))
    try:
        asyncio.run(serve(settings, host, port, demo, server_option(values, "backlog")))
    except OSError as exc:
        log.error("cannot serve on %s:%s: %s", host, port, exc.strerror or exc)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

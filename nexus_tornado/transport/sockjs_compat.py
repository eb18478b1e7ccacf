"""The one place nexus-tornado imports sockjs-tornado.

sockjs-tornado 1.0.7 carries its own copy of Tornado's removed ``@asynchronous``
decorator, which emits a ``DeprecationWarning`` for every handler method it decorates,
at import time. None of our handlers use it; the warning says nothing about our code, so
it is silenced here, for exactly that message from exactly that module, while the
package is first imported. Import sockjs-tornado through this module (or anything in
``nexus_tornado.transport``) before importing it directly, so the warning never escapes.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="@asynchronous is deprecated",
        category=DeprecationWarning,
        module="sockjs.tornado.util",
    )
    import sockjs.tornado  # noqa: F401  (registers the package)
    from sockjs.tornado import basehandler, proto, session, sessioncontainer, static, stats
    from sockjs.tornado import router as sockjs_router
    from sockjs.tornado import transports as sockjs_transports
    from sockjs.tornado.conn import SockJSConnection
    from sockjs.tornado.transports import htmlfile as sockjs_htmlfile
    from sockjs.tornado.transports import rawwebsocket as sockjs_rawwebsocket

__all__ = [
    "SockJSConnection",
    "basehandler",
    "proto",
    "session",
    "sessioncontainer",
    "sockjs_htmlfile",
    "sockjs_rawwebsocket",
    "sockjs_router",
    "sockjs_transports",
    "static",
    "stats",
]

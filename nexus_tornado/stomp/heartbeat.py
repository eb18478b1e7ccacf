"""Heart-beat negotiation (STOMP 1.2 "Heart-beating"), as pure functions.

The session negotiates the periods when it answers CONNECT; sending and expecting the
beats on time is the driver's job (the sans-I/O core has no clock).
"""

from __future__ import annotations

import re
from typing import Tuple

_HEARTBEAT_RE = re.compile(r"\s*(\d{1,10})\s*,\s*(\d{1,10})\s*")


def negotiate_heartbeat(client: Tuple[int, int], server: Tuple[int, int]) -> Tuple[int, int]:
    """Heart-beat periods (STOMP 1.2 "Heart-beating"), from the server's side.

    ``client`` is the CONNECT's ``heart-beat`` (cx, cy), ``server`` the CONNECTED's
    (sx, sy). Returns ``(send_every_ms, expect_every_ms)``, 0 meaning off: the server
    sends every max(sx, cy) unless sx or cy is 0, and expects the client's every
    max(cx, sy) unless cx or sy is 0.
    """
    cx, cy = client
    sx, sy = server
    send_every = 0 if sx == 0 or cy == 0 else max(sx, cy)
    expect_every = 0 if cx == 0 or sy == 0 else max(cx, sy)
    return send_every, expect_every


def parse_heartbeat(value: str) -> Tuple[int, int]:
    """Parse a ``heart-beat`` header value ``"cx,cy"``; ``ValueError`` if malformed."""
    match = _HEARTBEAT_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid heart-beat {value[:40]!r}")
    return int(match.group(1)), int(match.group(2))

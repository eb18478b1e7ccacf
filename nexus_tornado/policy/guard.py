"""The guard: every check a SUBSCRIBE or SEND passes before the hub sees it.

The transport glue calls exactly these two coroutines; each returns normally when the
frame may proceed and raises :class:`~nexus_tornado.errors.Rejection` (with the wire
contract's code and details) when it may not.
"""

from __future__ import annotations

from typing import Mapping

from .principal import Principal


class Guard:
    """Checks SUBSCRIBE and SEND frames against ACLs, limits and schemas."""

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        """Raise ``Rejection('FORBIDDEN', ...)`` unless ``principal`` may subscribe."""

    async def admit_send(
        self,
        principal: Principal,
        destination: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> None:
        """Raise a ``Rejection`` unless this SEND may be persisted and broadcast."""

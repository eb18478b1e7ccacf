"""The guard: every check a SUBSCRIBE or SEND passes before the hub sees it.

The transport glue calls exactly these two coroutines; each returns normally when the
frame may proceed and raises :class:`~nexus_tornado.errors.Rejection` (with the wire
contract's code and details) when it may not.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Sequence, Union

from ..errors import ConfigError, Rejection, RejectionCode
from .acl import Resolver, TopicAcl
from .limits import SendRateLimiter
from .principal import Principal
from .validation import MessageValidator, SchemaSource

__all__ = ["Guard"]

#: ``check(principal) -> bool`` (or an awaitable of one): who may send a message type.
SenderCheck = Callable[[Principal], Union[bool, Awaitable[bool]]]


class Guard:
    """Checks SUBSCRIBE and SEND frames against ACLs, limits and schemas.

    A SEND passes, in the order of the seed's security workflow:

    1. the rate limit (``RATE_LIMITED``; every SEND that reaches the guard counts,
       whatever happens to it next);
    2. the frame size (checked by the glue before the guard: ``TOO_LARGE``);
    3. the ACL (``FORBIDDEN``; unknown destinations too);
    4. schema validation, then 5. business rules (``INVALID_MESSAGE``), both in
       :class:`~nexus_tornado.policy.validation.MessageValidator`;
    6. who may send the message's type (``FORBIDDEN``): its ``senders`` roles, and the
       host's check for types added with :meth:`add_message_type`.

    A SUBSCRIBE passes the ACL only. One guard serves the whole process, so its rate
    limiter sees every connection of a user.

    Build it from its parts, ``Guard(acl=..., validator=..., limiter=...)``
    (``limiter=None`` disables the rate limit), or from plain settings::

        Guard.from_settings(
            *,
            membership: Optional[Mapping[str, Resolver]] = None,  # "chats"/"boards"/"calendars"
            extra_schemas: Optional[SchemaSource] = None,         # mapping or JSON file path
            sends_per_minute: Optional[int] = 100,                # None: no rate limit
            clock: Callable[[], float] = time.monotonic,
        ) -> Guard

    The host app adds destinations with ``guard.acl.add_rule(pattern, subscribe=...,
    send=...)`` and message types through ``extra_schemas`` or :meth:`add_message_type`.
    """

    def __init__(
        self,
        *,
        acl: TopicAcl,
        validator: MessageValidator,
        limiter: Optional[SendRateLimiter],
    ) -> None:
        if not isinstance(validator, MessageValidator):
            # Checked here, once: the guard also asks it who may send each type, and
            # every SEND would fail at run time instead.
            raise ConfigError(
                "validator: a MessageValidator (or a subclass whose validate() returns the "
                "message it checked, with its type), not %s; host rules go in "
                "plugin.handler(...) or plugin.add_message_type(...)" % type(validator).__name__
            )
        self.acl = acl
        self.validator = validator
        self.limiter = limiter
        self._type_checks: Dict[str, SenderCheck] = {}

    @classmethod
    def from_settings(
        cls,
        *,
        membership: Optional[Mapping[str, Resolver]] = None,
        extra_schemas: Optional[SchemaSource] = None,
        sends_per_minute: Optional[int] = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> "Guard":
        """A guard with the built-in ACL table, the bundled schemas and a 60 s window.

        Raises :class:`~nexus_tornado.errors.ConfigError` for an unknown membership key,
        a schema Cerberus refuses, or a limit that is not a positive integer.
        """
        limiter = (
            None
            if sends_per_minute is None
            else SendRateLimiter(sends_per_minute, 60.0, clock=clock)
        )
        return cls(
            acl=TopicAcl(membership),
            validator=MessageValidator(extra_schemas),
            limiter=limiter,
        )

    def count_send(self, principal: Principal) -> None:
        """Count one SEND toward the rate limit now; ``Rejection('RATE_LIMITED')`` when
        over it. The glue calls it for a SEND as it is held in a transaction (and for a
        token refresh), so what is never committed counts too."""
        if self.limiter is not None:
            self.limiter.check(principal.user_id)

    async def take_send(self, principal: Principal) -> None:
        """:meth:`count_send` for a SEND that may wait: a user on several processes is
        counted in the log they share (:meth:`SendRateLimiter.admit`)."""
        if self.limiter is not None:
            await self.limiter.admit(principal.user_id)

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        """Raise ``Rejection('FORBIDDEN', ...)`` unless ``principal`` may subscribe."""
        await self.acl.authorize_subscribe(principal, destination)

    async def admit_send(
        self,
        principal: Principal,
        destination: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        counted: bool = False,
    ) -> Dict[str, Any]:
        """Return the validated envelope, or raise a ``Rejection`` unless this SEND may
        be persisted and broadcast.

        ``headers`` are the SEND frame's headers; no rule reads them today. ``counted``:
        the SEND already went through :meth:`count_send` (it was held in a transaction).
        """
        if not counted:
            await self.take_send(principal)
        await self.acl.authorize_send(principal, destination)
        message = self.validator.validate(body, destination, principal.user_id)
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(kind, str) or not self.validator.knows_type(kind):
            # Not the client's fault: the host's validator broke its contract.
            raise ConfigError(
                "%s.validate() returned %s, not a message of a known type (%s): it must return "
                "the message it checked" % (
                    type(self.validator).__name__,
                    "a %s" % type(message).__name__ if not isinstance(message, dict) else "type %r" % (kind,),
                    ", ".join(self.validator.message_types),
                )
            )
        await self.authorize_type(principal, destination, kind)
        return message

    async def authorize_type(self, principal: Principal, destination: str, message_type: str) -> None:
        """Raise ``Rejection("FORBIDDEN")`` unless ``principal`` may send this type: one
        of its ``senders`` roles (schema data), and the host's check when one was given."""
        roles = self.validator.senders_for(message_type)
        allowed = roles is None or bool(principal.roles & set(roles))
        check = self._type_checks.get(message_type)
        if allowed and check is not None:
            result: Any = check(principal)
            if inspect.isawaitable(result):
                result = await result
            allowed = result is True
        if not allowed:
            raise Rejection(
                RejectionCode.FORBIDDEN,
                "not allowed to send %s messages" % message_type,
                details={"destination": destination, "type": message_type},
            )

    def add_message_type(
        self,
        name: str,
        *,
        destinations: Sequence[str],
        fields: Optional[Mapping[str, Any]] = None,
        senders: Union[None, Sequence[str], SenderCheck] = None,
        allow_unknown: bool = False,
    ) -> None:
        """Add a message type of the host app's own, in code.

        ``fields`` are Cerberus rules merged over the envelope's, as in a schema
        document (``{"payload": {"schema": {...}}}``); ``destinations`` the patterns it
        may be sent to (each must also be a destination the ACL knows); ``senders`` the
        roles that may send it, or a check ``(principal) -> bool`` (plain or async).
        ``None``: whoever the destination's ACL lets send.
        """
        entry: Dict[str, Any] = {"destinations": list(destinations), "fields": dict(fields or {}), "allowUnknown": allow_unknown}
        check: Optional[SenderCheck] = None
        if callable(senders):
            check = senders
        elif senders is not None:
            if isinstance(senders, str):
                raise ConfigError("senders of %s: a list of roles, not one string" % name)
            entry["senders"] = list(senders)
        self.validator.add_type(name, entry)
        if check is not None:
            self._type_checks[name] = check
        else:
            self._type_checks.pop(name, None)

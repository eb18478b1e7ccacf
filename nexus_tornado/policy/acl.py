"""Topic ACLs: which principal may SUBSCRIBE to, or SEND to, which destination.

The built-in rules are the wire contract's destination table:

==================================  ===================================  ==============
destination                         SUBSCRIBE                            SEND
==================================  ===================================  ==============
``/topic/chat/{chatId}``            participants of that chat            participants
``/topic/notifications/{userId}``   that user, admins                    never (server)
``/topic/board/{boardId}``          board members                        board members
``/topic/calendar/{userId}``        that user, users it is shared with   that user
``/topic/doc/{docId}``              editors of that document             editors
``/topic/presence``                 every authenticated user             never (server)
``/topic/announcements``            every authenticated user             admins
``/user/queue/errors``              every session (own rejections)       never
==================================  ===================================  ==============

Admin rights reach exactly the cells that name admins; an admin is not implicitly a
chat participant or board member. Any destination no rule matches is refused.

Membership (chat participants, board members, calendar sharing, document editors) comes
from *resolvers*: async callables ``(principal, id) -> bool`` the host app supplies under
the keys ``"chats"``, ``"boards"``, ``"calendars"`` and ``"docs"``. The defaults read the
JWT claims of the same names: lists of chat ids, board ids, the user ids whose calendars
are shared with the principal, and document ids. A resolver allows only by returning exactly ``True``.

The host app adds rules for its own destinations with :meth:`TopicAcl.add_rule`; a rule's
checks are called as ``check(principal, **ids)`` with the pattern's placeholders as
keyword arguments and may be plain or async functions. Every refusal raises
``Rejection(RejectionCode.FORBIDDEN, ..., details={"destination": ...})``.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Tuple, Union

from ..errors import ConfigError, Rejection, RejectionCode
from .destinations import (
    ANNOUNCEMENTS,
    BOARD,
    CALENDAR,
    CHAT,
    DOC,
    ERRORS_DESTINATION,
    NOTIFICATIONS,
    PRESENCE_DESTINATION,
    DestinationPattern,
)
from .principal import Principal

__all__ = [
    "AclRule",
    "Check",
    "MEMBERSHIP_KEYS",
    "Operation",
    "Resolver",
    "TopicAcl",
    "admins",
    "claim_resolver",
    "everyone",
]

log = logging.getLogger("nexus_tornado.policy.acl")

#: ``check(principal, **ids)``: may return a bool or an awaitable of one.
Check = Callable[..., Union[bool, Awaitable[bool]]]
#: ``resolver(principal, id)``: an async membership answer supplied by the host app.
Resolver = Callable[[Principal, str], Awaitable[bool]]

#: The membership resolver keys, named after the JWT claims the defaults read.
MEMBERSHIP_KEYS = ("chats", "boards", "calendars", "docs")


class Operation(str, Enum):
    """The two STOMP commands an ACL rule answers for."""

    SUBSCRIBE = "SUBSCRIBE"
    SEND = "SEND"


@dataclass(frozen=True)
class AclRule:
    """One destination pattern and its checks; ``None`` means nobody, ever."""

    pattern: DestinationPattern
    subscribe: Optional[Check]
    send: Optional[Check]

    def check_for(self, operation: Operation) -> Optional[Check]:
        return self.subscribe if operation is Operation.SUBSCRIBE else self.send


def claim_resolver(claim: str) -> Resolver:
    """A resolver reading a list of ids from the principal's JWT claim ``claim``.

    Ids may be strings or integers in the token; anything that is not a list denies.
    """

    async def resolve(principal: Principal, id_: str) -> bool:
        values = principal.claims.get(claim)
        if not isinstance(values, (list, tuple)):
            return False
        if id_ in values:  # the usual case, a list of strings, scanned in C
            # Among JSON values only a string equals a string.
            return True
        return any(
            (isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)))
            and str(v) == id_
            for v in values
        )

    resolve.__name__ = f"claim_{claim}"
    return resolve


async def everyone(principal: Principal, **ids: str) -> bool:
    """Every authenticated principal (reaching the guard means authenticated)."""
    return True


async def admins(principal: Principal, **ids: str) -> bool:
    """Principals with the ``admin`` role."""
    return principal.is_admin


class TopicAcl:
    """Destination rules, matched once per SUBSCRIBE/SEND.

    ``membership`` maps some of :data:`MEMBERSHIP_KEYS` to resolvers; missing keys
    fall back to :func:`claim_resolver` on the claim of that name. ``builtin_rules``
    can be turned off to start from an empty table (every destination refused).
    """

    def __init__(
        self,
        membership: Optional[Mapping[str, Resolver]] = None,
        *,
        builtin_rules: bool = True,
    ) -> None:
        membership = dict(membership or {})
        unknown = sorted(set(membership) - set(MEMBERSHIP_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown membership resolver(s) {unknown}; expected some of {list(MEMBERSHIP_KEYS)}"
            )
        for key, resolver in membership.items():
            if not callable(resolver):
                raise ConfigError(f"membership resolver {key!r} is not callable")
        self._resolvers: Dict[str, Resolver] = {
            key: membership.get(key) or claim_resolver(key) for key in MEMBERSHIP_KEYS
        }
        self._rules: Dict[str, AclRule] = {}
        #: The rules in the order they are tried (the last added first), kept current
        #: by add_rule/remove_rule: every SUBSCRIBE and SEND walks it.
        self._order: Tuple[AclRule, ...] = ()
        if builtin_rules:
            self._add_builtin_rules()

    # -- the table ---------------------------------------------------------------

    def add_rule(
        self,
        pattern: str,
        *,
        subscribe: Optional[Check] = None,
        send: Optional[Check] = None,
    ) -> None:
        """Allow ``pattern`` (e.g. ``/topic/project/{projectId}``) under these checks.

        Each check is called as ``check(principal, **ids)`` and allows only by
        returning (or resolving to) exactly ``True``; ``None`` refuses everyone. A rule
        for a pattern already present replaces it; where patterns overlap, the rule
        added last wins.
        """
        for name, check in (("subscribe", subscribe), ("send", send)):
            if check is not None and not callable(check):
                raise ConfigError(f"{name} check for {pattern!r} is not callable")
        try:
            compiled = DestinationPattern(pattern)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._rules.pop(pattern, None)
        self._rules[pattern] = AclRule(compiled, subscribe, send)
        self._order = tuple(reversed(list(self._rules.values())))

    def remove_rule(self, pattern: str) -> None:
        """Forget the rule for ``pattern``: its destinations become unknown (refused)."""
        self._rules.pop(pattern, None)
        self._order = tuple(reversed(list(self._rules.values())))

    @property
    def rules(self) -> Tuple[AclRule, ...]:
        """The rules, in the order they are tried."""
        return self._order

    def match(self, destination: str) -> Optional[Tuple[AclRule, Dict[str, str]]]:
        """The rule that governs ``destination`` and its ids, or ``None`` if unknown."""
        for rule in self._order:
            ids = rule.pattern.match(destination)
            if ids is not None:
                return rule, ids
        return None

    # -- decisions ---------------------------------------------------------------

    async def authorize_subscribe(self, principal: Principal, destination: str) -> Dict[str, str]:
        """Return the destination's ids, or raise ``Rejection("FORBIDDEN")``."""
        return await self.authorize(Operation.SUBSCRIBE, principal, destination)

    async def authorize_send(self, principal: Principal, destination: str) -> Dict[str, str]:
        """Return the destination's ids, or raise ``Rejection("FORBIDDEN")``."""
        return await self.authorize(Operation.SEND, principal, destination)

    async def authorize(
        self, operation: Operation, principal: Principal, destination: str
    ) -> Dict[str, str]:
        """Decide ``operation`` on ``destination`` for ``principal``."""
        found = self.match(destination)
        if found is None:
            log.debug("%s by %s refused: unknown destination", operation.value, principal.user_id)
            raise Rejection(
                RejectionCode.FORBIDDEN,
                "unknown destination",
                details={"destination": destination},
            )
        rule, ids = found
        check = rule.check_for(operation)
        allowed = False
        if check is not None:
            result: Any = check(principal, **ids)
            if inspect.isawaitable(result):
                result = await result
            allowed = result is True
        if not allowed:
            log.debug(
                "%s by %s to %s refused by rule %s",
                operation.value,
                principal.user_id,
                destination,
                rule.pattern.pattern,
            )
            verb = "subscribe to" if operation is Operation.SUBSCRIBE else "send to"
            raise Rejection(
                RejectionCode.FORBIDDEN,
                f"not allowed to {verb} this destination",
                details={"destination": destination},
            )
        return ids

    # -- the wire contract's table ----------------------------------------------

    def _add_builtin_rules(self) -> None:
        chats = self._resolvers["chats"]
        boards = self._resolvers["boards"]
        calendars = self._resolvers["calendars"]
        docs = self._resolvers["docs"]

        async def chat_participant(principal: Principal, chatId: str) -> bool:
            return (await chats(principal, chatId)) is True

        async def board_member(principal: Principal, boardId: str) -> bool:
            return (await boards(principal, boardId)) is True

        async def doc_editor(principal: Principal, docId: str) -> bool:
            return (await docs(principal, docId)) is True

        async def own_or_admin(principal: Principal, userId: str) -> bool:
            return principal.user_id == userId or principal.is_admin

        async def own(principal: Principal, userId: str) -> bool:
            return principal.user_id == userId

        async def own_or_shared_calendar(principal: Principal, userId: str) -> bool:
            if principal.user_id == userId:
                return True
            return (await calendars(principal, userId)) is True

        table: Iterable[Tuple[str, Optional[Check], Optional[Check]]] = (
            (CHAT, chat_participant, chat_participant),
            (NOTIFICATIONS, own_or_admin, None),
            (BOARD, board_member, board_member),
            (CALENDAR, own_or_shared_calendar, own),
            (DOC, doc_editor, doc_editor),
            (PRESENCE_DESTINATION, everyone, None),
            (ANNOUNCEMENTS, everyone, admins),
            (ERRORS_DESTINATION, everyone, None),
        )
        for pattern, subscribe, send in table:
            self.add_rule(pattern, subscribe=subscribe, send=send)

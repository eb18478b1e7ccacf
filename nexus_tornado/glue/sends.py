"""SEND frames: admitted by the guard, stored and broadcast, answered in order.

A connection handles its frames in arrival order, each answered (RECEIPT, or a report
on ``/user/queue/errors``) before the next one's answer. SENDs are the frames a client
pipelines, and a store that writes in batches (MongoDB) would get them one at a time
if each waited for the one before to be stored. So a run of consecutive SENDs already
waiting (at most :data:`SEND_RUN`) goes together:

1. each is admitted by the guard in turn (rate limit, ACL, schema), as if alone;
2. those admitted go to the pipeline in one call, which stores them in one call to the
   store (one write for all on MongoDB), in order, and broadcasts them;
3. each is answered in its place: RECEIPT, or the report of what refused it.

The client sees what it would see one frame at a time, with one exception made
explicit: without a ``/user/queue/errors`` subscription a refusal is an ERROR that
ends the session. Step 1 stops at such a refusal (nothing after it is admitted or
stored), and the SENDs before it are stored and receipted before its ERROR, as if
alone. A refusal by the store (``UNAVAILABLE``) comes only once the whole run was
handed over; should the store have taken later SENDs of the run, their RECEIPTs go
out before that ERROR: every message stored is receipted (docs/protocol.md).

Not in runs: token refreshes, document operations, and SENDs to destinations a host
handler may run on (handlers see a destination's messages one at a time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple, Union

from ..errors import AuthError, Rejection, RejectionCode, StoreUnavailable
from ..hub.store import StoredMessage
from ..policy.auth import token_from_connect
from ..policy.destinations import TOKEN_DESTINATION
from ..stomp import Send, State
from .documents import is_document

if TYPE_CHECKING:  # pragma: no cover
    from .connection import StompConnection

__all__ = ["SEND_RUN", "on_send", "on_sends", "send_run"]

#: Most consecutive SENDs handled together (their answers wait for the slowest).
SEND_RUN = 100

Outcome = Union[StoredMessage, Exception]


def _runs(connection: "StompConnection", event: Any) -> bool:
    """Whether ``event`` is a SEND that may go in a run."""
    if type(event) is not Send:
        return False
    destination = event.destination
    return (
        destination != TOKEN_DESTINATION
        and not is_document(destination)
        and not connection.services.pipeline.handles(destination)
    )


def send_run(connection: "StompConnection", event: Any, waiting: Deque[Any]) -> Optional[List[Send]]:
    """``event`` and the SENDs waiting right behind it that go together with it (taken
    out of ``waiting``), or None when it goes alone."""
    if not waiting or not _runs(connection, event) or not _runs(connection, waiting[0]):
        return None
    run = [event]
    while waiting and len(run) < SEND_RUN and _runs(connection, waiting[0]):
        run.append(waiting.popleft())
    return run


async def on_send(connection: "StompConnection", event: Send) -> None:
    """One SEND on its own."""
    principal = connection._require_principal()
    if event.destination == TOKEN_DESTINATION:
        await _refresh_token(connection, event)
        return
    services = connection.services
    try:
        message = await services.guard.admit_send(
            principal, event.destination, event.body, event.headers, counted=event.transaction is not None
        )
        # Host-app handlers, then store and broadcast (nexus_tornado/pipeline.py).
        await services.pipeline.publish(principal, event.destination, message, event.body, event.headers)
    except (Rejection, StoreUnavailable) as exc:
        _answer(connection, event, exc)
        return
    connection._receipt(event.receipt)


async def on_sends(connection: "StompConnection", run: List[Send]) -> None:
    """A run of SENDs (:func:`send_run`): admitted in turn, stored together, answered
    in order."""
    principal = connection._require_principal()
    services = connection.services
    outcomes: List[Optional[Outcome]] = []
    admitted: List[Tuple[str, Dict[str, Any], bytes, Any]] = []
    for event in run:
        if _cut_off(connection):
            return
        try:
            message = await services.guard.admit_send(
                principal, event.destination, event.body, event.headers, counted=event.transaction is not None
            )
        except Exception as exc:
            outcomes.append(exc)
            if connection._errors_subscription is None:
                break  # its ERROR ends the session: the SENDs after it are never handled
            continue
        outcomes.append(None)
        admitted.append((event.destination, message, event.body, event.headers))
    if admitted:
        if _cut_off(connection):
            return
        try:
            results = await services.pipeline.publish_many(principal, admitted)
        except Exception as exc:  # a failure of ours: each of them is told (SERVER_ERROR)
            results = [exc] * len(admitted)
        stored = iter(results)
        outcomes = [outcome if outcome is not None else next(stored) for outcome in outcomes]
    answers = list(zip(run, outcomes))
    for i, (event, outcome) in enumerate(answers):
        if not isinstance(outcome, StoredMessage) and connection._errors_subscription is None:
            # Its ERROR ends the session. Stored later SENDs of the run (the store took
            # them, it refused this one) are receipted before it: a RECEIPT for every
            # message stored.
            for later, taken in answers[i + 1:]:
                if isinstance(taken, StoredMessage):
                    connection._receipt(later.receipt)
            _answer(connection, event, outcome)
            break
        _answer(connection, event, outcome)


def _cut_off(connection: "StompConnection") -> bool:
    """Whether the SENDs of a run not stored yet are dropped: the connection closed after
    an ERROR of ours, or a shutdown out of time closed it (they could only be stored
    without a RECEIPT, and be sent again: a duplicate). A client that went away on its
    own still has what it sent stored (wire contract)."""
    if not connection._closed:
        return False
    return connection.stomp.state is State.CLOSED or (
        connection.services.closing and connection._close_reason is not None
    )


def _answer(connection: "StompConnection", event: Send, outcome: Optional[Outcome]) -> None:
    """Answer one SEND: its RECEIPT once stored, else the report of what refused it."""
    if isinstance(outcome, StoredMessage):
        connection._receipt(event.receipt)
    elif isinstance(outcome, Rejection):
        connection.reject(outcome, event.receipt)
    elif isinstance(outcome, StoreUnavailable):
        connection.reject(
            Rejection(
                RejectionCode.UNAVAILABLE,
                "message store unavailable, message not accepted",
                {"destination": event.destination},
                log_detail="store unavailable: %s" % outcome.log_detail,
            ),
            event.receipt,
        )
    else:
        connection._fail("handling Send failed", receipt=event.receipt, error=outcome)


async def _refresh_token(connection: "StompConnection", event: Send) -> None:
    """Swap the session's token in place; end subscriptions it no longer allows."""
    current = connection._require_principal()
    services = connection.services
    try:
        # A refresh is a SEND like any other: it counts toward sends_per_minute (each
        # one verifies a signature and re-checks every subscription's ACL), once.
        if event.transaction is None:
            services.guard.count_send(current)
    except Rejection as rejection:
        connection.reject(rejection, event.receipt)
        return
    token = token_from_connect(event.headers) or event.body.decode("utf-8", "replace").strip()
    try:
        principal = services.verifier.verify(token)
    except AuthError as exc:
        connection.reject(
            Rejection(RejectionCode.FORBIDDEN, exc.message, {"destination": TOKEN_DESTINATION}), event.receipt
        )
        return
    if principal.user_id != current.user_id:
        connection.reject(
            Rejection(RejectionCode.FORBIDDEN, "token is for another user", {"destination": TOKEN_DESTINATION}),
            event.receipt,
        )
        return
    connection.principal = principal
    for sub in list(connection._subscriptions.values()):
        try:
            await services.guard.authorize_subscribe(principal, sub.destination)
        except Rejection as rejection:
            connection._end_subscription(sub)
            rejection.details["subscription"] = sub.id
            connection.reject(rejection, None)
    connection._receipt(event.receipt)

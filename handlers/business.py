"""The demo's business logic, plugged in as a host app does (docs/handlers.md).

- **Mentions**: a handler finds ``@user`` in a chat message (demo users who take part in
  that chat, not the sender) and adds ``payload.mentions``; an after-store listener then
  sends each of them a ``MENTION`` notification through ``plugin.notify`` (stored for
  them while they are offline).
- **Board state**: an after-store listener folds every ``BOARD_UPDATE`` into the board's
  current cards, so a new page is shown the board as it is (``GET /demo/board/{id}``)
  and then follows it live from that ``seq``, even once retention dropped the moves that
  built it. The state lives in this process; after a restart it is rebuilt from the
  retained history.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Dict, List, Optional

from nexus_tornado.hub.store import Store
from nexus_tornado.policy.destinations import BOARD, CHAT
from nexus_tornado.pipeline import Inbound, StoredEvent

from .users import find_user

__all__ = ["Boards", "install", "mentions_in"]

_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.-]+)")


def mentions_in(text: str, chat_id: str, sender: str) -> List[str]:
    """The demo users ``text`` mentions who take part in ``chat_id`` (not the sender)."""
    found: List[str] = []
    for name in _MENTION.findall(text):
        user = find_user(name.rstrip(".").lower())
        if user is not None and chat_id in user.chats and user.user_id != sender and user.user_id not in found:
            found.append(user.user_id)
    return found


class Boards:
    """The current cards of each board, folded from its BOARD_UPDATE messages."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._boards: Dict[str, Dict[str, Any]] = {}
        self._loading: Dict[str, asyncio.Lock] = {}

    async def state(self, board_id: str) -> Dict[str, Any]:
        """``{"boardId", "seq", "cards": [{"id", "title", "column", "by", "seq"}]}``."""
        board = await self._board(board_id)
        cards = [board["cards"][card_id] for card_id in board["order"]]
        return {"boardId": board_id, "seq": board["seq"], "cards": cards}

    async def _board(self, board_id: str) -> Dict[str, Any]:
        board = self._boards.get(board_id)
        if board is not None:
            return board
        lock = self._loading.setdefault(board_id, asyncio.Lock())
        async with lock:
            board = self._boards.get(board_id)
            if board is None:
                board = {"seq": 0, "cards": {}, "order": []}
                while True:  # rebuild from the retained history
                    chunk = await self.store.read_after(BOARD.format(boardId=board_id), board["seq"], 500)
                    for message in chunk:
                        _apply(board, message.seq, _json(message.body))
                    if len(chunk) < 500:
                        break
                self._boards[board_id] = board
        return board

    async def on_stored(self, event: StoredEvent) -> None:
        """After-store listener of ``/topic/board/{boardId}``."""
        board = await self._board(event.ids["boardId"])
        if event.seq > board["seq"]:
            _apply(board, event.seq, event.message)


def _json(body: bytes) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _apply(board: Dict[str, Any], seq: int, message: Optional[Dict[str, Any]]) -> None:
    board["seq"] = max(board["seq"], seq)
    if not message or message.get("type") != "BOARD_UPDATE":
        return
    payload = message.get("payload") or {}
    data = payload.get("data") or {}
    card_id = data.get("cardId")
    if not isinstance(card_id, str) or not card_id:
        return
    cards, order = board["cards"], board["order"]
    action = payload.get("action")
    if action == "add":
        if card_id not in cards:
            order.append(card_id)
        cards[card_id] = {"id": card_id, "title": str(data.get("title") or card_id)[:200],
                          "column": str(data.get("column") or "todo"), "by": message.get("senderId"), "seq": seq}
    elif action == "move" and card_id in cards:
        cards[card_id].update(column=str(data.get("to") or cards[card_id]["column"]), by=message.get("senderId"), seq=seq)
    elif action == "delete" and card_id in cards:
        del cards[card_id]
        order.remove(card_id)


def install(plugin: Any) -> Boards:
    """Register the demo's handlers and listeners on ``plugin``; return the boards."""
    boards = Boards(plugin.store)

    @plugin.handler("CHAT_MESSAGE", destination=CHAT)
    async def find_mentions(inbound: Inbound) -> Optional[Dict[str, Any]]:
        payload = inbound.message["payload"]
        mentioned = mentions_in(payload["content"], inbound.ids["chatId"], inbound.principal.user_id)
        if not mentioned:
            return None
        payload["mentions"] = mentioned
        return inbound.message

    @plugin.after_store("CHAT_MESSAGE", destination=CHAT)
    async def notify_mentioned(event: StoredEvent) -> None:
        message = event.message or {}
        payload = message.get("payload") or {}
        sender = message.get("senderId") or "someone"
        author = find_user(str(sender))
        for user_id in payload.get("mentions") or []:
            await plugin.notify(user_id, {
                "type": "NOTIFICATION",
                "timestamp": message.get("timestamp"),
                "senderId": sender,
                "payload": {
                    "notificationType": "MENTION",
                    "title": "%s mentioned you in #%s" % (author.name if author else sender, event.ids["chatId"]),
                    "message": str(payload.get("content", ""))[:2000],
                },
            })

    plugin.add_listener(boards.on_stored, type="BOARD_UPDATE", destination=BOARD)
    return boards

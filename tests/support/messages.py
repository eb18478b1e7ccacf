"""One valid message of each bundled type (the seed's table), shared by the validation
and compiled-schema tests."""

from __future__ import annotations

from typing import Any, Dict

TS = "2023-05-15T10:30:45Z"

VALID: Dict[str, Dict[str, Any]] = {
    "CHAT_MESSAGE": {
        "type": "CHAT_MESSAGE",
        "timestamp": TS,
        "senderId": "alice",
        "payload": {"chatId": "c1", "content": "Hello, world!", "contentType": "TEXT"},
    },
    "NOTIFICATION": {
        "type": "NOTIFICATION",
        "timestamp": TS,
        "payload": {"notificationType": "SYSTEM_ALERT", "title": "Maintenance", "message": "at noon"},
    },
    "STATUS_UPDATE": {
        "type": "STATUS_UPDATE",
        "timestamp": TS,
        "payload": {"entityId": "t-7", "entityType": "task", "status": "IN_PROGRESS"},
    },
    "BOARD_UPDATE": {
        "type": "BOARD_UPDATE",
        "timestamp": TS,
        "senderId": "alice",
        "payload": {"boardId": "b1", "action": "move", "data": {"card": "k1", "to": "done"}},
    },
    "DOC_OP": {
        "type": "DOC_OP",
        "timestamp": TS,
        "senderId": "alice",
        "payload": {"docId": "d1", "version": 3, "opId": "alice-1", "op": [2, "hi", -1, 4]},
    },
}

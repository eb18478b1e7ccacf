"""MESSAGE templates: the headers a message keeps, its epoch, and the gap marks one
recipient gets relative to what it saw."""

from __future__ import annotations

from typing import Dict, Optional

from nexus_tornado.hub.store import StoredMessage
from nexus_tornado.hub.templates import after, relayed_headers, template_for, with_gap


def message(seq: int, epoch: str = "e1", headers: Optional[Dict[str, str]] = None) -> StoredMessage:
    return StoredMessage("/topic/chat/t", seq, "id%d" % seq, b"{}", headers or {}, 1.0, epoch)


def test_the_template_names_the_epoch_and_keeps_the_servers_headers_its_own() -> None:
    template = template_for(message(3, headers={"epoch": "forged", "x-trace": "t"}))
    assert template.headers["epoch"] == "e1"
    assert template.headers["seq"] == "3" and template.seq == 3
    assert template.headers["x-trace"] == "t"
    assert "epoch" not in template_for(message(1, epoch="")).headers  # stored before epochs


def test_credentials_and_server_headers_are_not_relayed() -> None:
    kept = relayed_headers({"Authorization": "Bearer x", "seq": "9", "epoch": "x", "reply-to": "/r"})
    assert kept == {"reply-to": "/r"}


def test_no_header_the_server_sets_is_relayed_in_any_case() -> None:
    forged = {"snapshot": "true", "receipt-id": "r1", "Seq": "9", "SEQ-RESET": "true", "Snapshot": "true",
              "x-trace": "t"}
    assert relayed_headers(forged) == {"x-trace": "t"}
    template = template_for(message(2, headers=forged))
    assert template.headers["seq"] == "2"
    assert {k for k in template.headers if k.lower() in ("snapshot", "receipt-id", "seq-reset")} == set()


def test_gap_marks_are_relative_to_what_the_recipient_saw() -> None:
    marked = with_gap(template_for(message(5)), (3, 4))
    assert (marked.headers["gap-from"], marked.headers["gap-to"]) == ("3", "4")
    assert "gap-from" not in after(marked, 4).headers  # this recipient has 4: no gap
    regapped = after(marked, 1)
    assert (regapped.headers["gap-from"], regapped.headers["gap-to"]) == ("2", "4")
    plain = template_for(message(2))
    assert after(plain, 1) is plain

"""Operational transformation of plain text: pure functions, standard library only.

:mod:`.text` holds the operations a collaborative document is edited with (keep,
insert, delete, counted in Unicode code points), and the three things a server-ordered
editor needs of them: ``apply``, ``compose`` and ``transform``. No clock, no I/O; the
hub stores what these functions produce and the glue carries it. ``static/nexus-text.js``
is the same algebra for the browser, and a test holds the two to the same answers.
"""

from __future__ import annotations

from .text import OperationError, TextOperation, transform, transform_index

__all__ = ["OperationError", "TextOperation", "transform", "transform_index"]

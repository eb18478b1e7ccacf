"""Operations on plain text, and how concurrent ones are reconciled.

An operation walks the whole text once, from the start, as a list of components:

* a positive integer ``n`` keeps (retains) the next ``n`` code points;
* a non-empty string inserts it at the current position;
* a negative integer ``-n`` deletes the next ``n`` code points.

This list is also the wire format (a JSON array): ``[5, "hi", -2, 3]`` applied to a
text of ten code points keeps five, inserts ``hi``, deletes two and keeps the last
three. The kept and deleted counts of an operation add up to the length of the text it
applies to (its ``base_length``); an operation of another length is refused, never
stretched. Lengths and positions count Unicode code points, not UTF-16 units: an emoji
outside the Basic Multilingual Plane is one position on both sides (Python's ``str``
counts this way; ``static/nexus-text.js`` walks surrogate pairs to agree). Inserts may
not hold lone surrogates, which neither side could count consistently.

Operations are normalized when built, so equal effects compare equal: no zero-length
component, neighbours of one kind merged, and an insert next to a delete put first.

``compose(a, b)`` is one operation with the effect of ``a`` then ``b``. ``transform(a,
b)``, for ``a`` and ``b`` made against the same text, returns ``(a', b')`` such that
``b'`` applied after ``a`` and ``a'`` applied after ``b`` give the same text (the
transformation property TP1). When both insert at one position, ``a``'s text comes
first: the server passes the operation it has already ordered as ``a``, and so does the
client for what arrives from the server, so every replica breaks the tie one way.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import Rejection, RejectionCode

#: One component: keep (``n > 0``), insert (a non-empty string) or delete (``-n``).
Component = Union[int, str]


class OperationError(Rejection):
    """An operation that cannot be taken: malformed, or not made for this text.

    A :class:`~nexus_tornado.errors.Rejection` with the ``INVALID_MESSAGE`` code, so the
    glue answers it like any other invalid message; ``message`` says what is wrong.
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(RejectionCode.INVALID_MESSAGE, message, details)


def _has_lone_surrogate(text: str) -> bool:
    # Python strings decoded from JSON keep an unpaired \\ud83d as one code point in the
    # surrogate range; a paired one arrives already combined. Any surrogate left is lone.
    return any("\ud800" <= char <= "\udfff" for char in text)


class _Builder:
    """Accumulates components in normal form (see the module docstring)."""

    def __init__(self) -> None:
        self.components: List[Component] = []

    def retain(self, count: int) -> None:
        if count <= 0:
            return
        last = self.components[-1] if self.components else None
        if isinstance(last, int) and last > 0:
            self.components[-1] = last + count
        else:
            self.components.append(count)

    def insert(self, text: str) -> None:
        if not text:
            return
        parts = self.components
        if parts and isinstance(parts[-1], str):
            parts[-1] += text
        elif parts and isinstance(parts[-1], int) and parts[-1] < 0:
            # Inserting before or after a deletion has one effect; the normal form
            # puts the insert first (and merges it with an insert already there).
            if len(parts) > 1 and isinstance(parts[-2], str):
                parts[-2] += text
            else:
                parts.insert(len(parts) - 1, text)
        else:
            parts.append(text)

    def delete(self, count: int) -> None:
        if count <= 0:
            return
        last = self.components[-1] if self.components else None
        if isinstance(last, int) and last < 0:
            self.components[-1] = last - count
        else:
            self.components.append(-count)

    def build(self) -> "TextOperation":
        return TextOperation(tuple(self.components))


class TextOperation:
    """A normalized operation; immutable. Build with :meth:`from_json` or :meth:`build`."""

    __slots__ = ("components", "base_length", "target_length")

    def __init__(self, components: Tuple[Component, ...]) -> None:
        # Callers outside this module go through from_json/build, which normalize.
        self.components = components
        base = target = 0
        for part in components:
            if isinstance(part, str):
                target += len(part)
            elif part > 0:
                base += part
                target += part
            else:
                base -= part
        #: The length, in code points, of the text this operation applies to.
        self.base_length = base
        #: The length of the text it produces.
        self.target_length = target

    # ---- building -------------------------------------------------------------------

    @classmethod
    def build(cls, components: Iterable[Component]) -> "TextOperation":
        """Normalize well-formed components (trusted input; see :meth:`from_json`)."""
        builder = _Builder()
        for part in components:
            if isinstance(part, str):
                builder.insert(part)
            elif part > 0:
                builder.retain(part)
            else:
                builder.delete(-part)
        return builder.build()

    @classmethod
    def from_json(cls, value: Any, *, max_components: Optional[int] = None) -> "TextOperation":
        """Check and normalize an operation decoded from JSON; :class:`OperationError`
        says what is wrong with one that does not hold (``max_components`` bounds how
        many components a client may send in one operation)."""
        if not isinstance(value, list):
            raise OperationError("an operation is a JSON array of components", got=type(value).__name__)
        if max_components is not None and len(value) > max_components:
            raise OperationError(
                "an operation has at most %d components" % max_components, components=len(value)
            )
        for index, part in enumerate(value):
            if isinstance(part, bool) or not isinstance(part, (int, str)):
                raise OperationError(
                    "component %d is neither a count nor a string" % index, index=index
                )
            if isinstance(part, int) and part == 0:
                raise OperationError("component %d counts zero code points" % index, index=index)
            if isinstance(part, str):
                if not part:
                    raise OperationError("component %d inserts an empty string" % index, index=index)
                if _has_lone_surrogate(part):
                    raise OperationError(
                        "component %d inserts a lone surrogate (not a Unicode character)" % index,
                        index=index,
                    )
        return cls.build(value)

    def to_json(self) -> List[Component]:
        """The wire form: a list of ints and strings (JSON-ready)."""
        return list(self.components)

    # ---- queries --------------------------------------------------------------------

    def is_noop(self) -> bool:
        """True when applying it leaves any text as it was."""
        return all(isinstance(part, int) and part > 0 for part in self.components)

    def inserted_length(self) -> int:
        """How many code points it inserts in all."""
        return sum(len(part) for part in self.components if isinstance(part, str))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextOperation) and self.components == other.components

    def __hash__(self) -> int:
        return hash(self.components)

    def __repr__(self) -> str:
        return "TextOperation(%r)" % (list(self.components),)

    # ---- the algebra ----------------------------------------------------------------

    def apply(self, text: str) -> str:
        """The text this operation makes of ``text``; refused when made for another length."""
        if len(text) != self.base_length:
            raise OperationError(
                "the operation spans %d code points but the text has %d"
                % (self.base_length, len(text)),
                operationLength=self.base_length,
                textLength=len(text),
            )
        pieces: List[str] = []
        position = 0
        for part in self.components:
            if isinstance(part, str):
                pieces.append(part)
            elif part > 0:
                pieces.append(text[position:position + part])
                position += part
            else:
                position -= part
        return "".join(pieces)

    def compose(self, other: "TextOperation") -> "TextOperation":
        """One operation with the effect of this one, then ``other``."""
        if self.target_length != other.base_length:
            raise OperationError(
                "cannot compose: the first operation makes %d code points, the second spans %d"
                % (self.target_length, other.base_length)
            )
        result = _Builder()
        first, second = _Cursor(self.components), _Cursor(other.components)
        while not (first.done() and second.done()):
            if first.peek_delete():
                result.delete(first.take_delete())
                continue
            if second.peek_insert():
                result.insert(second.take_insert())
                continue
            # Both remaining components are now over the middle text: first's keep or
            # insert produced it, second's keep or delete consumes it.
            size = min(first.head_length(), second.head_length())
            produced = first.take(size)
            consumed = second.take(size)
            assert isinstance(consumed, int)
            if isinstance(produced, str):
                if consumed > 0:
                    result.insert(produced)
                # An insert the second deletes again leaves nothing.
            elif consumed > 0:
                result.retain(size)
            else:
                result.delete(size)
        return result.build()


def transform(left: TextOperation, right: TextOperation) -> Tuple[TextOperation, TextOperation]:
    """``(left', right')`` for two operations on one text: ``right'`` applies after
    ``left``, ``left'`` after ``right``, and both orders end with one text. At a position
    where both insert, ``left``'s text comes first."""
    if left.base_length != right.base_length:
        raise OperationError(
            "cannot transform operations on different texts (%d and %d code points)"
            % (left.base_length, right.base_length)
        )
    left_out, right_out = _Builder(), _Builder()
    first, second = _Cursor(left.components), _Cursor(right.components)
    while not (first.done() and second.done()):
        if first.peek_insert():
            text = first.take_insert()
            left_out.insert(text)
            right_out.retain(len(text))
            continue
        if second.peek_insert():
            text = second.take_insert()
            right_out.insert(text)
            left_out.retain(len(text))
            continue
        size = min(first.head_length(), second.head_length())
        mine = first.take(size)
        theirs = second.take(size)
        assert isinstance(mine, int) and isinstance(theirs, int)
        if mine > 0 and theirs > 0:
            left_out.retain(size)
            right_out.retain(size)
        elif mine < 0 and theirs > 0:
            left_out.delete(size)
        elif mine > 0 and theirs < 0:
            right_out.delete(size)
        # Both deleted the same code points: neither needs to any more.
    return left_out.build(), right_out.build()


def transform_index(index: int, operation: TextOperation) -> int:
    """Where position ``index`` (a caret, in code points) moves when ``operation`` is
    applied: text inserted before it pushes it on, text deleted before it pulls it back,
    and a deletion around it leaves it where the deletion was. Text inserted exactly at
    the caret goes after it (the caret stays before what someone else typed there)."""
    position = 0
    moved = index
    for part in operation.components:
        if position >= index:
            break
        if isinstance(part, str):
            moved += len(part)
        elif part > 0:
            position += part
        else:
            gone = min(-part, index - position)
            moved -= gone
            position -= part
    return moved


class _Cursor:
    """Walks a component list, handing out pieces of the current component."""

    def __init__(self, components: Sequence[Component]) -> None:
        self._parts = components
        self._index = 0
        self._offset = 0  # how much of the current component is used up

    def done(self) -> bool:
        return self._index >= len(self._parts)

    def _head(self) -> Optional[Component]:
        return self._parts[self._index] if self._index < len(self._parts) else None

    def peek_insert(self) -> bool:
        return isinstance(self._head(), str)

    def peek_delete(self) -> bool:
        head = self._head()
        return isinstance(head, int) and head < 0

    def head_length(self) -> int:
        head = self._head()
        if head is None:
            # Lengths were checked up front, so the other side is also at its end.
            raise AssertionError("operation exhausted before its partner")
        size = len(head) if isinstance(head, str) else abs(head)
        return size - self._offset

    def take(self, size: int) -> Component:
        """``size`` code points of the current component (a keep, delete or insert)."""
        head = self._head()
        assert head is not None
        start = self._offset
        self._offset += size
        whole = len(head) if isinstance(head, str) else abs(head)
        if self._offset >= whole:
            self._index += 1
            self._offset = 0
        if isinstance(head, str):
            return head[start:start + size]
        return size if head > 0 else -size

    def take_insert(self) -> str:
        piece = self.take(self.head_length())
        assert isinstance(piece, str)
        return piece

    def take_delete(self) -> int:
        piece = self.take(self.head_length())
        assert isinstance(piece, int) and piece < 0
        return -piece

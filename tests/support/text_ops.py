"""Hypothesis strategies for texts and the operations made on them.

Shared by the tests of the Python operations (tests/test_ot_text.py), of their browser
twin (static/nexus-text.js, run under node) and of documents edited end to end.
"""

from __future__ import annotations

from typing import Any, Callable, List

from hypothesis import strategies as st

from nexus_tornado.ot import TextOperation

#: Characters that make code-point counting matter: astral emoji (surrogate pairs in
#: UTF-16), a combining accent, a zero-width joiner, CJK, plain ASCII.
TRICKY = ["a", "b", "c", " ", "\n", "é", "\u0301", "\u200d", "中", "😀", "👍", "🏽", "𝄞"]

#: Any character but a surrogate (a lone one is not text, and operations refuse it).
characters = st.one_of(
    st.sampled_from(TRICKY),
    st.characters(blacklist_categories=("Cs",)),
)

texts = st.text(alphabet=characters, max_size=30)
inserts = st.text(alphabet=characters, min_size=1, max_size=6)


@st.composite
def operations(draw: Callable[..., Any], base_length: int) -> TextOperation:
    """An operation on any text of ``base_length`` code points."""
    parts: List[Any] = []
    left = base_length
    while left > 0 or draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["keep", "keep", "insert", "delete"]))
        if kind == "insert":
            parts.append(draw(inserts))
            if left == 0:
                break
            continue
        if left == 0:
            break
        size = draw(st.integers(1, left))
        parts.append(size if kind == "keep" else -size)
        left -= size
    return TextOperation.build(parts)

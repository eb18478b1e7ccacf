"""Work measured as a count of function calls: deterministic, unlike a clock.

``sys.setprofile`` sees every call made by the thread it is set in, of Python functions
and of C functions alike. Comparing the counts for an input of size n and of size 4n
shows how work grows with the input, whatever else the machine is doing.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, List, Tuple


def count_calls(fn: Callable[[], Any]) -> Tuple[int, Any, BaseException]:
    """``(calls, result, exception)`` of running ``fn()`` in this thread."""
    calls = [0]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            calls[0] += 1

    result: Any = None
    error: BaseException = None  # type: ignore[assignment]
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn()
    except BaseException as exc:  # the caller decides what an exception means
        error = exc
    finally:
        sys.setprofile(previous)
    return calls[0], result, error


class CallCounter:
    """Wraps a function so every call to it records its first argument and the calls it
    made (in its thread) in ``counts``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.counts: List[Tuple[Any, int]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        calls, result, error = count_calls(lambda: self.fn(*args, **kwargs))
        self.counts.append((args[0] if args else None, calls))
        if error is not None:
            raise error
        return result

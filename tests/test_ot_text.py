"""Text operations: the transformation laws as properties, edge cases as tables, and
the browser's twin (static/nexus-text.js, under node) held to the same answers."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.es5 import es5_errors
from support.text_ops import operations, texts

from nexus_tornado.errors import Rejection, RejectionCode
from nexus_tornado.ot import OperationError, TextOperation, transform, transform_index

op = TextOperation.build


@st.composite
def text_and_two(draw: Callable[..., Any]) -> Any:
    text = draw(texts)
    return text, draw(operations(len(text))), draw(operations(len(text)))


@st.composite
def text_and_chain(draw: Callable[..., Any], count: int) -> Any:
    text = draw(texts)
    chain: List[TextOperation] = []
    length = len(text)
    for _ in range(count):
        chain.append(draw(operations(length)))
        length = chain[-1].target_length
    return text, chain


# ---- the laws ---------------------------------------------------------------------


@given(text_and_two())
def test_transformed_operations_converge_tp1(case: Any) -> None:
    text, a, b = case
    a2, b2 = transform(a, b)
    assert b2.apply(a.apply(text)) == a2.apply(b.apply(text))


@given(text_and_chain(2))
def test_compose_agrees_with_applying_in_turn(case: Any) -> None:
    text, (a, b) = case
    assert a.compose(b).apply(text) == b.apply(a.apply(text))


@given(text_and_chain(3))
def test_compose_is_associative(case: Any) -> None:
    text, (a, b, c) = case
    assert a.compose(b).compose(c) == a.compose(b.compose(c))


@given(text_and_chain(1))
def test_identity_composes_away(case: Any) -> None:
    text, (a,) = case
    assert op([len(text)]).compose(a) == a
    assert a.compose(op([a.target_length])) == a


@given(text_and_two())
def test_both_orders_compose_to_one_effect(case: Any) -> None:
    # TP1 once more, through compose: a then b' is b then a'.
    text, a, b = case
    a2, b2 = transform(a, b)
    assert a.compose(b2).apply(text) == b.compose(a2).apply(text)


@given(text_and_two())
def test_transform_keeps_lengths_consistent(case: Any) -> None:
    text, a, b = case
    a2, b2 = transform(a, b)
    assert a2.base_length == b.target_length
    assert b2.base_length == a.target_length
    assert a.compose(b2).target_length == b.compose(a2).target_length


@given(text_and_chain(1))
def test_wire_form_round_trips(case: Any) -> None:
    _, (a,) = case
    assert TextOperation.from_json(a.to_json()) == a


@given(text_and_two())
def test_a_caret_moves_as_an_insert_made_there_would(case: Any) -> None:
    # A caret at ``index`` is where an insert made at ``index`` would land after
    # ``a``, as long as the insert wins ties (text typed at the caret goes after it).
    text, a, _ = case
    for index in range(len(text) + 1):
        marker = op([index, "|", len(text) - index])
        moved_marker, _ = transform(marker, a)
        head = moved_marker.components[0]
        assert transform_index(index, a) == (head if isinstance(head, int) else 0)


# ---- tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, components, result",
    [
        ("hello world", [5, ",", 6], "hello, world"),
        ("hello world", [-6, 5], "world"),
        ("", ["new"], "new"),
        ("😀😀", [1, "👍", 1], "😀👍😀"),  # one position per emoji, not two
        ("a\u0301b", [1, -1, 1], "ab"),  # a combining accent is its own code point
        ("abc", [-3, "xyz"], "xyz"),
    ],
)
def test_apply(text: str, components: List[Any], result: str) -> None:
    assert TextOperation.from_json(components).apply(text) == result


@pytest.mark.parametrize(
    "components, normal",
    [
        ([2, 3, "a", "b", -1, -1], [5, "ab", -2]),
        ([-2, "x"], ["x", -2]),  # an insert next to a delete goes first
        (["x", -2, "y"], ["xy", -2]),
        ([], []),
    ],
)
def test_operations_are_normalized(components: List[Any], normal: List[Any]) -> None:
    assert TextOperation.from_json(components).to_json() == normal


def test_concurrent_inserts_at_one_position_put_the_left_first() -> None:
    left, right = op([1, "L", 1]), op([1, "R", 1])
    left2, right2 = transform(left, right)
    assert right2.apply(left.apply("ab")) == "aLRb" == left2.apply(right.apply("ab"))
    right3, left3 = transform(right, left)
    assert left3.apply(right.apply("ab")) == "aRLb"


def test_concurrent_deletes_of_the_same_text_delete_it_once() -> None:
    a, b = op([1, -2, 1]), op([2, -2])
    a2, b2 = transform(a, b)
    assert b2.apply(a.apply("abcd")) == a2.apply(b.apply("abcd")) == "a"


@pytest.mark.parametrize(
    "value, complaint",
    [
        ("abc", "a JSON array"),
        ({"retain": 1}, "a JSON array"),
        ([1, None], "component 1 is neither a count nor a string"),
        ([1.5], "component 0 is neither a count nor a string"),
        ([True], "component 0 is neither a count nor a string"),
        ([["x"]], "component 0 is neither a count nor a string"),
        ([0], "component 0 counts zero"),
        ([1, ""], "component 1 inserts an empty string"),
        (["\ud83d"], "lone surrogate"),
    ],
)
def test_garbage_is_refused_with_what_is_wrong(value: Any, complaint: str) -> None:
    with pytest.raises(OperationError) as caught:
        TextOperation.from_json(value)
    assert complaint in caught.value.message
    assert isinstance(caught.value, Rejection)
    assert caught.value.code is RejectionCode.INVALID_MESSAGE


def test_too_many_components_are_refused() -> None:
    TextOperation.from_json([1, "a"] * 5, max_components=10)
    with pytest.raises(OperationError, match="at most 10 components"):
        TextOperation.from_json([1, "a"] * 5 + [1], max_components=10)


@pytest.mark.parametrize(
    "text, components",
    [("abc", [4]), ("abc", [2]), ("abc", [1, -3]), ("😀", [2]), ("", [-1])],
)
def test_an_operation_made_for_another_length_is_refused(text: str, components: List[Any]) -> None:
    operation = TextOperation.from_json(components)
    with pytest.raises(OperationError) as caught:
        operation.apply(text)
    assert caught.value.message == "the operation spans %d code points but the text has %d" % (
        operation.base_length,
        len(text),
    )


def test_compose_and_transform_refuse_mismatched_operations() -> None:
    with pytest.raises(OperationError, match="cannot compose"):
        op([1, "x"]).compose(op([1]))
    with pytest.raises(OperationError, match="different texts"):
        transform(op([1]), op([2]))


@pytest.mark.parametrize(
    "index, components, moved",
    [
        (2, [2, "xy", 1], 2),  # an insert at the caret goes after it
        (3, [2, "xy", 1], 5),
        (3, [1, -2], 1),  # deleted around: left at the deletion
        (1, ["ab", 2], 3),
        (0, ["ab", 2], 0),
        (2, [-2, "zz"], 2),  # normalized: "zz" goes in before the deletion
    ],
)
def test_transform_index(index: int, components: List[Any], moved: int) -> None:
    assert transform_index(index, op(components)) == moved


def test_queries() -> None:
    assert op([3]).is_noop() and not op([1, "a", 2]).is_noop() and not op([-1]).is_noop()
    assert op(["😀b", 2, "c"]).inserted_length() == 3
    assert op([1, "x", -2]).base_length == 3 and op([1, "x", -2]).target_length == 2
    assert repr(op([1, "x"])) == "TextOperation([1, 'x'])"
    assert hash(op([1, "x"])) == hash(op([1, "x"]))


# ---- the browser's twin: static/nexus-text.js under node ----------------------------

#: Reads one JSON request a line ({"call": name, "args": [...]}) and answers one JSON
#: line: {"result": ...} or {"error": message}.
_NODE_DRIVER = r"""
const NexusText = require(process.argv[1]);
const readline = require('readline');
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const request = JSON.parse(line);
  let answer;
  try {
    answer = { result: NexusText[request.call].apply(null, request.args) };
  } catch (e) {
    answer = { error: e.message };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
"""

#: Seconds one call may take: far beyond any correct answer, even on a loaded machine.
ANSWER_TIMEOUT = 60

TEXT_JS = Path(__file__).resolve().parents[1] / "static" / "nexus-text.js"


class NodeText:
    """One node process running nexus-text.js, called line by line."""

    def __init__(self) -> None:
        if not shutil.which("node"):
            pytest.skip("node is not installed")
        self._process = subprocess.Popen(
            ["node", "-e", _NODE_DRIVER, str(TEXT_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            encoding="utf-8",
        )

    def call(self, name: str, *args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        # ensure_ascii: astral characters travel as surrogate-pair escapes, which
        # JSON.parse joins again; nothing depends on the pipe's encoding.
        self._process.stdin.write(json.dumps({"call": name, "args": list(args)}) + "\n")
        self._process.stdin.flush()
        # One request, one answer: nothing is buffered ahead, so select sees it coming.
        # The timeout turns a loop in the script into a failure, not a hang.
        ready, _, _ = select.select([self._process.stdout], [], [], ANSWER_TIMEOUT)
        if not ready:
            self._process.kill()
            raise AssertionError("nexus-text.js gave no answer to %s%r" % (name, args))
        line = self._process.stdout.readline()
        assert line, "node exited"
        answer = json.loads(line)
        if "error" in answer:
            raise OperationError(answer["error"])
        return answer["result"]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        if self._process.poll() is None:
            self._process.wait(timeout=30)
        assert self._process.stdout is not None
        self._process.stdout.close()


@pytest.fixture(scope="module")
def js() -> Iterator[NodeText]:
    node = NodeText()
    yield node
    node.close()


def test_the_browser_twin_is_es5() -> None:
    assert es5_errors({"nexus-text.js": TEXT_JS.read_text(encoding="utf-8")}) == {}


@given(text_and_two())
def test_browser_and_server_apply_compose_and_transform_alike(js: NodeText, case: Any) -> None:
    text, a, b = case
    assert js.call("apply", text, a.to_json()) == a.apply(text)
    assert js.call("length", text) == len(text)
    expected = [part.to_json() for part in transform(a, b)]
    assert js.call("transform", a.to_json(), b.to_json()) == expected
    a2, b2 = transform(a, b)
    assert js.call("compose", a.to_json(), b2.to_json()) == a.compose(b2).to_json()
    for index in (0, len(text) // 2, len(text)):
        assert js.call("transformIndex", index, b.to_json()) == transform_index(index, b)


@given(text_and_chain(1), st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["", "x", "😀"])), max_size=6))
def test_browser_and_server_normalize_and_refuse_alike(js: NodeText, case: Any, raw: List[Any]) -> None:
    text, (a,) = case
    assert js.call("check", a.to_json()) == a.to_json()
    try:
        expected: Any = TextOperation.from_json(raw).to_json()
    except OperationError as error:
        expected = error.message
    try:
        got: Any = js.call("check", raw)
    except OperationError as error:
        got = error.message
    assert got == expected
    # An operation of the wrong length: both refuse it, with one message.
    wrong = a.to_json() + [1]
    with pytest.raises(OperationError) as server:
        TextOperation.build(wrong).apply(text)
    with pytest.raises(OperationError) as browser:
        js.call("apply", text, wrong)
    assert browser.value.message == server.value.message


@pytest.mark.parametrize(
    "value", [[1, "\ud83d"], ["a\udc00"], [1.5], [None], [{"d": 1}], "abc", [True]]
)
def test_the_browser_refuses_garbage_as_the_server_does(js: NodeText, value: Any) -> None:
    with pytest.raises(OperationError) as server:
        TextOperation.from_json(value)
    with pytest.raises(OperationError) as browser:
        js.call("check", value)
    assert browser.value.message == server.value.message


@given(texts, texts)
def test_the_browser_diff_turns_one_text_into_the_other(js: NodeText, before: str, after: str) -> None:
    operation = js.call("diff", before, after)
    assert TextOperation.from_json(operation).apply(before) == after
    assert js.call("apply", before, operation) == after


@given(texts, st.data())
def test_the_browser_converts_code_points_and_string_units(js: NodeText, text: str, data: Any) -> None:
    points = data.draw(st.integers(0, len(text)))
    units = len(text[:points].encode("utf-16-le")) // 2
    assert js.call("toUnits", text, points) == units
    assert js.call("toCodePoints", text, units) == points

"""nexus_tornado.transport.sockjs_compat: the one door to sockjs-tornado."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> "subprocess.CompletedProcess[str]":
    # A fresh interpreter: the warning is emitted once, when the package is first imported.
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True, timeout=60
    )


def test_importing_sockjs_tornado_through_it_emits_no_warning() -> None:
    out = _python("import nexus_tornado.transport.sockjs_compat, nexus_tornado.transport.router")
    assert out.returncode == 0, out.stderr


def test_the_warning_it_silences_is_real() -> None:
    # Without this module, sockjs-tornado 1.0.7 warns at import: the filter is needed
    # (when a release stops warning, this test says the module can go).
    out = _python("import sockjs.tornado")
    assert out.returncode != 0 and "@asynchronous is deprecated" in out.stderr

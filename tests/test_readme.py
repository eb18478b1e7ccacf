"""The README's examples run as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support.clients import RawWsClient
from support.mongo import free_port
from support.nexus import SECRET, make_token

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def python_block_after(heading: str) -> str:
    section = README[README.index(heading):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block after %r" % heading
    return match.group(1)


def test_the_mounting_example_serves_publishes_and_drains_on_sigterm(tmp_path: Path) -> None:
    """Run as written (but on a free port): it serves the host's page and the plugin,
    the notification it published reaches alice, and SIGTERM drains: her connection is
    closed with 1001 and the process exits 0."""
    code = python_block_after("## Mount it in your Tornado app")
    assert code.count("app.listen(8888)") == 1
    port = free_port()
    script = tmp_path / "mount.py"
    script.write_text(code.replace("app.listen(8888)", "app.listen(%d)" % port))
    log_path = tmp_path / "mount.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-W", "error", str(script)], cwd=tmp_path,
                                   env=dict(os.environ, NEXUS_JWT_SECRET=SECRET), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as page:
                    assert page.read() == b"my app"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the example did not start"
                time.sleep(0.05)
        alice = RawWsClient("ws://127.0.0.1:%d/stomp/websocket" % port)
        alice.connect(make_token("alice"))
        alice.subscribe("inbox", "/topic/notifications/alice", **{"last-seq": "0"})
        notification = json.loads(alice.expect("MESSAGE", subscription="inbox").body)
        assert notification["payload"]["title"] == "Hi"

        process.send_signal(signal.SIGTERM)
        assert alice.wait_closed() == 1001
        assert alice.close_reason.startswith("server shutting down (reconnect in ")
        assert process.wait(30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_the_mounting_example_without_a_secret_says_which_variable_to_set(tmp_path: Path) -> None:
    script = tmp_path / "mount.py"
    script.write_text(python_block_after("## Mount it in your Tornado app"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=environ,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "nexus_tornado.errors.ConfigError: jwt_secret is required: set NEXUS_JWT_SECRET "
        "(a shared secret of 32 bytes or more for HS256, or a PEM public key)"
    )


def test_the_readme_names_what_the_full_suite_needs_and_ci_installs_it() -> None:
    section = README[README.index("**Run the tests**"):README.index("Python 3.9 or newer")]
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    for tool, install in (("chromium", "`apt-get install chromium`"), ("nginx", "`apt-get install nginx`"),
                          ("acorn", "`npm install --prefix ~/.cache/nexus-tornado/node-tools acorn@8`")):
        assert "**%s**" % tool in section and install in section, tool
        assert tool in ci, tool
    assert "minutes" in section

"""The README's examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.mongo import free_port
from support.nexus import SECRET

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def python_block_after(heading: str) -> str:
    section = README[README.index(heading):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block after %r" % heading
    return match.group(1)


def test_the_mounting_example_serves_and_publishes(tmp_path: Path) -> None:
    code = python_block_after("## Mount it in your Tornado app")
    # Two changes only: a free port instead of 8888, and stop instead of serving forever.
    assert "app.listen(8888)" in code and "await asyncio.Event().wait()" in code
    port = free_port()
    code = code.replace("app.listen(8888)", "app.listen(%d)" % port)
    code = code.replace(
        "await asyncio.Event().wait()",
        "import urllib.request\n"
        "    page = await asyncio.to_thread(urllib.request.urlopen, 'http://127.0.0.1:%d/')\n"
        "    assert page.read() == b'my app'\n"
        "    page.close()\n"
        "    assert plugin.store is not None and (await plugin.delivery_status('alice', 1)) is False\n"
        "    await plugin.close()" % port,
    )
    script = tmp_path / "mount.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=dict(os.environ, NEXUS_JWT_SECRET=SECRET),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


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

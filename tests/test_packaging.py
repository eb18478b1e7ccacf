"""A plain (non-editable) install carries the demo handlers, the page and the config;
the sans-I/O layers import no Tornado."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("nexus_tornado-*.whl")
    return found


def test_wheel_carries_demo_static_and_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "nexus_tornado/demo/__init__.py",
        "nexus_tornado/demo/static/index.html",
        "nexus_tornado/demo/static/nexus-client.js",
        "nexus_tornado/demo/static/nexus-messages.js",
        "nexus_tornado/demo/static/demo-board.js",
        "nexus_tornado/demo/static/vendor/sockjs.min.js",
        "nexus_tornado/config/schemas.json",
        "nexus_tornado/config/nexus.example.ini",
        "nexus_tornado/config/nginx.conf",
        "nexus_tornado/stomp/session.py",
        "nexus_tornado/ot/text.py",
        "nexus_tornado/demo/static/nexus-text.js",
        "nexus_tornado/py.typed",
    ):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert b"nexus-tornado = nexus_tornado.cli:main" in zipfile.ZipFile(wheel).read(entry_points)


def test_installed_wheel_finds_its_page_outside_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import nexus_tornado.demo as d, os, nexus_tornado;"
        "print(nexus_tornado.__file__);"
        "print(os.path.isfile(os.path.join(d.STATIC_PATH, 'index.html')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(target)),
        capture_output=True,
        text=True,
        check=True,
    )
    origin, found = result.stdout.split()
    assert origin.startswith(str(target))
    assert found == "True"


def test_the_sources_need_nothing_newer_than_the_oldest_supported_python() -> None:
    """setup.cfg says ``python_requires = >=3.9`` and the suite runs on a newer Python:
    vermin reads every module (syntax, standard-library names and arguments) for what
    it needs at the least."""
    command = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]
    result = subprocess.run(
        [*command, "-t=3.9-", "--violations", "--no-tips", "nexus_tornado", "handlers", "scripts"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

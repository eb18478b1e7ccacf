"""The static checks: the layering, as import-linter contracts (setup.cfg
``[importlinter]``), and mypy over the package and the demo app.

Layers import only downward: the demo app, ``cli``, ``host`` and ``http_server`` side by
side, ``ops``, ``glue``, ``pipeline``, ``settings``, then ``transport`` and ``hub`` side by
side, ``policy``, ``stomp``, ``errors``. The
transport layer imports nothing of STOMP, policy or the hub; nothing below the glue
imports Tornado or sockjs-tornado; the STOMP core uses the standard library only; only
the Mongo store imports the driver. ``lint-imports`` (run from the repository root)
prints the same verdicts. No source file is over 600 lines.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "setup.cfg"
CONTRACTS = ("layers", "transport", "no-tornado", "stomp-stdlib", "driver")


def test_the_contracts_are_configured() -> None:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    names = [s.split(":", 2)[2] for s in parser.sections() if s.startswith("importlinter:contract:")]
    assert sorted(names) == sorted(CONTRACTS)


def test_every_contract_is_kept() -> None:
    # In a process of its own: import-linter configures logging (disabling the loggers
    # that exist), which would blind the log assertions of later tests. It finds the
    # root packages (nexus_tornado, handlers) from the repository root.
    program = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports(config_filename=%r, no_cache=True, no_logo=True))\n" % os.fspath(CONFIG)
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=os.fspath(ROOT),
        env=dict(os.environ, PYTHONPATH=os.fspath(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "%d kept, 0 broken" % len(CONTRACTS) in result.stdout


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    # setup.cfg [mypy] holds the options; a fresh cache keeps runs independent.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", os.fspath(tmp_path / "mypy"), "nexus_tornado", "handlers"],
        cwd=os.fspath(ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: A file longer than this holds more than one thing: split it by what it holds.
MAX_LINES = 600


def test_no_source_file_is_over_600_lines() -> None:
    sources = [
        *ROOT.joinpath("nexus_tornado").rglob("*.py"),
        *ROOT.joinpath("handlers").glob("*.py"),
        *ROOT.joinpath("bench").glob("*.py"),
        *ROOT.joinpath("scripts").glob("*.py"),
        *ROOT.joinpath("static").glob("*.js"),  # static/vendor/ holds others' builds
    ]
    assert len(sources) > 50
    long = {str(p.relative_to(ROOT)): n for p in sources if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, "split these by what they hold: %s" % long

"""Does JavaScript source parse as ES5? acorn (``ecmaVersion: 5``) under node says.

acorn is installed from npm outside the checkout by ``.ci/run`` (README.md says so too)::

    npm install --prefix ~/.cache/nexus-tornado/node-tools acorn@8

(``NEXUS_NODE_TOOLS`` names another prefix). Without it the ES5 checks are skipped,
except under CI (``CI`` set), where a missing checker is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Mapping

import pytest

#: Where .ci/run installs the node tools of the test suite.
DEFAULT_PREFIX = Path.home() / ".cache" / "nexus-tornado" / "node-tools"

#: Parses each file named in argv[2] (a JSON list of paths) as an ES5 script; prints a
#: JSON object: path -> error text, for the files that do not parse.
_CHECKER = r"""
const fs = require('fs');
const acorn = require(process.argv[1]);
const failures = {};
for (const file of JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))) {
  try {
    acorn.parse(fs.readFileSync(file, 'utf8'), { ecmaVersion: 5, sourceType: 'script' });
  } catch (e) {
    failures[file] = e.message;
  }
}
process.stdout.write(JSON.stringify(failures));
"""


def acorn_module() -> str:
    """The path of the installed acorn package (skips or fails the test without it)."""
    prefix = Path(os.environ.get("NEXUS_NODE_TOOLS") or DEFAULT_PREFIX)
    module = prefix / "node_modules" / "acorn"
    if shutil.which("node") and (module / "package.json").exists():
        return str(module)
    message = "ES5 check skipped: acorn is not installed under %s; install it with " \
        "`npm install --prefix %s acorn@8` (node and npm from apt: nodejs, npm)" % (prefix, prefix)
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def es5_errors(sources: Mapping[str, str]) -> Dict[str, str]:
    """Parse every source (name -> text) as an ES5 script; name -> error, for failures."""
    module = acorn_module()
    with tempfile.TemporaryDirectory() as tmp:
        paths: Dict[str, str] = {}
        for index, (name, text) in enumerate(sources.items()):
            path = os.path.join(tmp, "%03d.js" % index)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            paths[path] = name
        listing = os.path.join(tmp, "files.json")
        with open(listing, "w", encoding="utf-8") as handle:
            json.dump(list(paths), handle)
        result = subprocess.run(
            ["node", "-e", _CHECKER, module, listing],
            capture_output=True, text=True, timeout=120, check=True,
        )
    return {paths[path]: error for path, error in json.loads(result.stdout).items()}

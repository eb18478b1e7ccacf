"""Each source module has its own test module, named after it (as websockets does).

``nexus_tornado/<package>/<module>.py`` is tested in ``tests/test_<package>_<module>.py``
(``nexus_tornado/<module>.py`` in ``tests/test_<module>.py``). The other test modules
are the cross-cutting suites listed in :data:`CROSS_CUTTING` (docs/testing.md says what
each covers); a new test module is one or the other.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nexus_tornado"
TESTS = ROOT / "tests"

#: Test modules that follow a concern across modules rather than mirror one.
CROSS_CUTTING = {
    "test_architecture.py": "the import-linter layering contracts and mypy",
    "test_mirroring.py": "this rule",
    "test_history.py": "replay, restarts and outages through a real server and store",
    "test_offline_delivery.py": "notifications kept for offline users, end to end",
    "test_packaging.py": "the wheel and what it installs",
    "test_readme.py": "the README's examples, run",
    "test_config_reference.py": "docs/configuration.md against Settings",
    "test_docs_handlers.py": "docs/handlers.md's host-app example and curl calls, run",
    "test_security_acl.py": "the destination table through a real server",
    "test_security_errors.py": "rejections, ERROR frames and tracking ids on the wire",
    "test_security_fuzz.py": "generated malformed input against a real server",
    "test_security_limits.py": "every configured limit through a real server",
    "test_security_messages.py": "message validation through a real server",
    "test_security_tokens.py": "token handling through a real server",
    "test_security_delivery.py": "delivery other clients cannot spoil (admins watching, fast readers)",
    "test_security_input.py": "careless and hostile input at the SockJS and SUBSCRIBE level",
    "test_security_memory.py": "memory a client can make the server hold, bounded in bytes",
    "test_scaleout.py": "several server processes on one MongoDB behind nginx, as one server",
}

#: Source modules with nothing of their own to test.
NO_TEST_MODULE = {"__init__.py", "__main__.py"}


def expected_test_modules() -> Dict[str, str]:
    """test module name -> the source module it mirrors."""
    expected = {}
    for source in sorted(PACKAGE.rglob("*.py")):
        if source.name in NO_TEST_MODULE:
            continue
        parts = source.relative_to(PACKAGE).with_suffix("").parts
        expected["test_%s.py" % "_".join(parts)] = str(source.relative_to(ROOT))
    return expected


def test_every_source_module_has_its_test_module() -> None:
    present = {p.name for p in TESTS.glob("test_*.py")}
    missing = {test: source for test, source in expected_test_modules().items() if test not in present}
    assert not missing, "source modules without a test module: %s" % missing


def test_every_test_module_mirrors_a_source_module_or_is_a_known_suite() -> None:
    known = set(expected_test_modules()) | set(CROSS_CUTTING)
    strays = sorted(p.name for p in TESTS.glob("test_*.py") if p.name not in known)
    assert not strays, "test modules that mirror no source module: %s" % strays


def test_mutation_testing_runs_every_test_module_of_the_mutated_packages() -> None:
    """scripts/mutation.sh mutates stomp/ and policy/ and runs each mutant against the
    test modules setup.cfg [mutmut] lists: a test module missing there leaves its
    module's mutants untested (reported as survivors, or "no tests")."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    listed = {Path(line).name for line in parser["mutmut"]["pytest_add_cli_args_test_selection"].split()}
    mutated = {line.strip().split("/")[1] for line in parser["mutmut"]["only_mutate"].split()}
    wanted = {test for test, source in expected_test_modules().items() if source.split("/")[1] in mutated}
    assert wanted - listed == set(), "add to setup.cfg [mutmut]: %s" % sorted(wanted - listed)

"""The e2e marker's own test: planted tests that break the rule fail, and unit tests run first."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import argv_of, runs_swtts
from tests.helpers import REPO

PLANTED = """
import pytest

from tests.helpers import run_swtts


@pytest.fixture(scope="session")
def swtts_help():
    return run_swtts("--help").returncode


@pytest.mark.e2e
def test_marked_e2e_but_in_process():
    assert sum([1, 2]) == 3


def test_unit_that_starts_swtts():
    run_swtts("--help")


@pytest.mark.e2e
def test_e2e_whose_fixture_starts_swtts(swtts_help):
    assert swtts_help == 0


def test_unit_in_process():
    assert sum([1, 2]) == 3


@pytest.mark.e2e
def test_e2e_using_that_fixture_again(swtts_help):
    assert swtts_help == 0


@pytest.mark.e2e
def test_marked_e2e_but_runs_nothing():
    pass
"""


@pytest.mark.parametrize(
    ("command", "starts_swtts"),
    [
        ([sys.executable, "-P", "-m", "swtts", "say", "Hi."], True),
        ([sys.executable, "-m", "tests.crash_worker", "--connect", "tcp://x:1"], True),
        ([b"/usr/bin/python3", b"-m", b"swtts.cli"], True),
        (["/venv/bin/swtts", "serve"], True),
        ("swtts", True),
        ([sys.executable, "-P", "-c", "import swtts"], False),
        ([sys.executable, "-m", "pytest", "-q"], False),
        (["pgrep", "-f", "-m swtts"], False),
        (["bash", "-c", '"/venv/bin/python" -P -m swtts say -o - | head -c 10'], True),
        (["bash", "-c", "python -m pytest -q | tail -1"], False),
    ],
)
def test_commands_that_start_swtts(command: object, starts_swtts: bool) -> None:
    assert runs_swtts(argv_of(command)) is starts_swtts


def test_the_rule_fails_planted_tests_and_orders_unit_tests_first(tmp_path: Path) -> None:
    """The planted tests sit beside a conftest that is ours, as the real ones do; the session
    fixture counts for every test that uses it, not only the one that set it up. No short
    summary (-rN): under CI=true pytest prints it untruncated, repeating each message."""
    planted = tmp_path / "tests"
    planted.mkdir()
    (planted / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (planted / "test_planted.py").write_text(PLANTED)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-v", "-rN", "-p", "no:cacheprovider"),
            *("-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(planted)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    outcomes = re.findall(r"test_planted\.py::(\w+ (?:PASSED|FAILED))", done.stdout)
    assert outcomes == [
        "test_unit_that_starts_swtts FAILED",
        "test_unit_in_process PASSED",
        "test_marked_e2e_but_in_process FAILED",
        "test_e2e_whose_fixture_starts_swtts PASSED",
        "test_e2e_using_that_fixture_again PASSED",
        "test_marked_e2e_but_runs_nothing FAILED",
    ], done.stdout
    assert "a unit test started -P -m swtts --help ...: mark it @pytest.mark.e2e" in done.stdout
    assert done.stdout.count("marked e2e, but neither it nor its fixtures started swtts") == 2

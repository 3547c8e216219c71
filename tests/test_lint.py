"""The code stays clean: ruff's lint and format checks and mypy pass (their settings are in pyproject)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("scripts.typecheck",)],
    ids=["ruff check", "ruff format", "mypy"],
)
def test_the_tree_passes(command: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, f"python -m {' '.join(command)}:\n{done.stdout}{done.stderr}"

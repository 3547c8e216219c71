"""The test helpers' own checks, shown able to fail."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import children_of, wait_for


def test_the_orphan_finder_finds_a_child_left_behind() -> None:
    """The check below can fail: a process carrying ``--parent-pid PID`` is found while it lives."""
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--parent-pid", str(os.getpid())])
    try:
        wait_for(lambda: decoy.pid in children_of(os.getpid()), timeout=10)
    finally:
        decoy.kill()
        decoy.wait()
    assert decoy.pid not in children_of(os.getpid())

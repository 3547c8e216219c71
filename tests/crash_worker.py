"""Test-only worker that SIGKILLs itself on any chunk containing a marker ("poison pill").

Run as ``python -m tests.crash_worker --connect ENDPOINT --config FILE`` with the marker in
``SWTTS_TEST_CRASH_MARKER``. It is an ordinary ``swtts worker`` otherwise, so the broker's
re-queueing and ``max_attempts`` are proven against real process deaths while production code
carries no test hooks.
"""

from __future__ import annotations

import os
import signal
import sys

from swtts.cli import main
from swtts.protocol import SynthesisParams
from swtts.workers.engine import Engine, Synthesized

MARKER_ENV = "SWTTS_TEST_CRASH_MARKER"


def install(marker: str) -> None:
    """Make every Engine in this process die hard before speaking a chunk with ``marker``."""
    original = Engine.synthesize

    def synthesize(self: Engine, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        if marker in text:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, text, params, solo)

    Engine.synthesize = synthesize  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ[MARKER_ENV])
    sys.exit(main(["worker", *sys.argv[1:]]))

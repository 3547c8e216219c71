"""``python -m swtts``: the command line (what child processes are started with, under ``-P``)."""

import sys

from swtts.cli import main

sys.exit(main())

"""``python -m swtts``: the command line (what child processes are started with, under ``-P``)."""

from swtts.cli import program

program()

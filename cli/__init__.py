"""The ``swtts`` command line."""

from swtts.cli.main import main

__all__ = ["main"]

"""The ``swtts`` command line."""

from swtts.cli.main import main, program

__all__ = ["main", "program"]

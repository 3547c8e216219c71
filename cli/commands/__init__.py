"""One module per subcommand: ``register(subparsers)`` adds its flags, ``run(args, settings)`` does it.

A new subcommand is a new module here plus one entry in :data:`COMMANDS` (the order of ``--help``).
"""

from swtts.cli.commands import cache, http, keys, normalize, ping, say, serve, status, worker, wyoming

COMMANDS = (say, normalize, serve, http, wyoming, worker, ping, status, cache, keys)

__all__ = ["COMMANDS"]

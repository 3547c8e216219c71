"""``swtts keys``: CURVE key pairs for the broker, its workers and its producers, with an allow-list per role."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swtts.cli.flags import Subcommands
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    keys = commands.add_parser(
        "keys",
        help="generate CURVE key pairs for a non-loopback broker",
        description="Make the server's key pair and one per worker and producer in DIRECTORY; each public key "
        "also goes to allowed/workers/ or allowed/producers/ (the folders security.allowed_workers and "
        "security.allowed_producers name). Existing keys are never replaced without --force. With --worker or "
        "--producer only those pairs are made (and the server's if it is missing), to add a peer later.",
    )
    keys.add_argument("directory", type=Path, help="folder for the key files and the allowed/ folders")
    keys.add_argument(
        "--worker", action="append", metavar="NAME", help="a worker key pair to make, repeatable (default: worker)"
    )
    keys.add_argument(
        "--producer",
        action="append",
        metavar="NAME",
        help="a producer key pair to make, repeatable (default: producer); a name also given to --worker "
        "makes one pair allowed in both roles",
    )
    keys.add_argument("--force", action="store_true", help="replace key files that exist")
    keys.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.broker.security import ALLOWED_FOLDERS, generate_keys

    chosen = args.worker is not None or args.producer is not None
    server = not chosen or not (args.directory / "server.key_secret").exists()
    workers = args.worker or ([] if chosen else ["worker"])
    producers = args.producer or ([] if chosen else ["producer"])
    for path in generate_keys(args.directory, workers, producers, server=server, force=args.force):
        print(path)
    folders = ", ".join(f"{role.value}s: {args.directory / folder}" for role, folder in ALLOWED_FOLDERS.items())
    print(f"allowed public keys: {folders}", file=sys.stderr)
    return 0

"""``swtts keys``: CURVE key pairs and the allow-list for a broker bound beyond loopback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swtts.cli.flags import Subcommands
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    keys = commands.add_parser("keys", help="generate CURVE key pairs for a non-loopback broker")
    keys.add_argument("directory", type=Path, help="folder for the key files and the allowed/ folder of public keys")
    keys.add_argument(
        "--name",
        action="append",
        default=None,
        help="a client or worker key pair to make, repeatable (default: client and worker)",
    )
    keys.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.broker.security import generate_keys

    names = ["server", *(args.name or ["client", "worker"])]
    for path in generate_keys(args.directory, names):
        print(path)
    print(f"allowed public keys: {args.directory / 'allowed'}", file=sys.stderr)
    return 0

"""``swtts status``: a live view of a broker's workers, queue, cache and throughput."""

from __future__ import annotations

import argparse
import json
import sys
import time

from swtts.cli.flags import Subcommands, add_connect, number
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    status = commands.add_parser("status", help="live view of workers, queue, cache and throughput")
    add_connect(status, "broker endpoint, tcp://HOST:PORT (default from the config)")
    status.add_argument("--json", action="store_true", help="print one JSON snapshot and exit")
    status.add_argument(
        "--interval", type=number(0, above=True), default=1.0, metavar="SECONDS", help="refresh period (default 1)"
    )
    status.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.cli.status_view import render_status
    from swtts.client import Client
    from swtts.protocol import StatusReply

    with Client(args.connect, settings) as client:
        if args.json:
            print(json.dumps(client.status().to_wire(), indent=2))
            return 0
        previous: StatusReply | None = None
        try:
            while True:
                snapshot = client.status()
                sys.stdout.write("\x1b[2J\x1b[H" + render_status(snapshot, previous, args.interval) + "\n")
                sys.stdout.flush()
                previous = snapshot
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0

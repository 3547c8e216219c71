"""``swtts ping``: exit 0 once a broker answers with a ready worker (for scripts and health checks)."""

from __future__ import annotations

import argparse
import sys
import time

from swtts.cli.flags import Subcommands, add_connect, number
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    ping = commands.add_parser("ping", help="exit 0 once the broker answers with at least one ready worker")
    add_connect(ping, "broker endpoint, tcp://HOST:PORT (default from the config)")
    ping.add_argument(
        "--wait", type=number(0), default=0.0, metavar="SECONDS", help="keep trying for this long (default 0: once)"
    )
    ping.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.client import Client, TTSError

    deadline = time.monotonic() + args.wait
    with Client(args.connect, settings) as client:
        while True:
            try:
                reply = client.ping(timeout_s=1.0)
                if reply.ready >= 1:
                    print(f"ok: {reply.ready} ready of {reply.workers} worker(s); voices: {', '.join(reply.voices)}")
                    return 0
                problem = f"broker answers but has no ready worker ({reply.workers} connected)"
            except TTSError as exc:
                problem = exc.message
            if time.monotonic() >= deadline:
                print(f"swtts: {problem}", file=sys.stderr)
                return 1
            time.sleep(0.2)

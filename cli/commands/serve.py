"""``swtts serve``: the broker and its local workers, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys

from swtts.cli.flags import Subcommands, add_config, add_voice
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    serve = commands.add_parser("serve", help="run the broker and local workers until Ctrl-C/SIGTERM")
    serve.add_argument("--bind", help="endpoint to bind (default from config: tcp://127.0.0.1:5555)")
    serve.add_argument("--workers", type=int, help="local worker processes (default: one per core; 0 = none)")
    serve.add_argument("--no-cache", action="store_true")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    add_config(serve)
    add_voice(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.service import Supervisor

    supervisor = Supervisor(
        settings,
        workers=args.workers,
        use_cache=False if args.no_cache else None,
        log_level=args.log_level.upper(),
        parent_pid=args.parent_pid,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: supervisor.stop())
    if args.parent_pid is None:
        print(f"swtts: serving on {supervisor.endpoint} with {supervisor.count} local worker(s)", file=sys.stderr)
    supervisor.run()
    return 0

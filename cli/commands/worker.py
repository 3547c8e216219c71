"""``swtts worker``: one worker process joining a broker, on this machine or another."""

from __future__ import annotations

import argparse

from swtts.cli.flags import Subcommands, add_config, add_voice
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    worker = commands.add_parser("worker", help="join a broker as a worker (this or another machine)")
    worker.add_argument("--connect", help="broker endpoint, e.g. tcp://HOST:5555")
    worker.add_argument("--threads", type=int, help="onnxruntime threads for this worker")
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    add_config(worker)
    add_voice(worker)
    worker.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.workers.worker import run_worker

    run_worker(settings, args.connect, args.parent_pid)
    return 0

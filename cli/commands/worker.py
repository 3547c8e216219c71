"""``swtts worker``: one worker process joining a broker, on this machine or another."""

from __future__ import annotations

import argparse

from swtts.cli.flags import Subcommands, add_connect, add_setting, add_voice
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    worker = commands.add_parser(
        "worker",
        help="join a broker as a worker (this or another machine)",
        description="Load a voice and serve a broker's chunks until Ctrl-C or SIGTERM; "
        "reconnects with backoff when the broker goes away.",
    )
    add_connect(worker, "broker endpoint, tcp://HOST:PORT (default from the config)")
    add_voice(worker)
    add_setting(worker, "--threads", "onnxruntime threads, at least 1; auto = every CPU core", "N")
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    worker.add_argument("--error-file", help=argparse.SUPPRESS)
    worker.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.workers.worker import run_worker

    run_worker(settings, args.connect, args.parent_pid)
    return 0

"""``swtts serve``: the broker and its local workers (and optionally a Wyoming server), until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys

from swtts.cli.flags import Subcommands, add_setting, add_voice, override_from_flag
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the broker and local workers until Ctrl-C/SIGTERM",
        description="Run the broker and its local workers until Ctrl-C or SIGTERM. "
        "Workers on other machines join with `swtts worker --connect`.",
    )
    add_setting(serve, "--bind", "endpoint to bind, tcp://HOST:PORT (default tcp://127.0.0.1:5555)", "ENDPOINT")
    add_setting(serve, "--workers", "local worker processes: auto = one per CPU core, 0 = none (a broker alone)", "N")
    add_voice(serve)
    serve.add_argument("--no-cache", action="store_true", help="run without the audio cache")
    add_setting(serve, "--metrics-port", "serve Prometheus metrics on this port (turns metrics on)", "PORT")
    serve.add_argument(
        "--wyoming",
        nargs="?",
        const="",
        metavar="URI",
        help="also serve Wyoming TTS (Home Assistant) on tcp://HOST:PORT or unix://PATH "
        "[config: wyoming.uri when no URI is given]",
    )
    add_setting(serve, "--http", "also serve the OpenAI-compatible speech API and its page here", "HOST:PORT")
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--error-file", help=argparse.SUPPRESS)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.service import Supervisor

    if args.wyoming:
        settings = override_from_flag(settings, "--wyoming", "wyoming.uri", args.wyoming)
    supervisor = Supervisor(
        settings,
        use_cache=False if args.no_cache else None,
        log_level=args.log_level.upper(),
        parent_pid=args.parent_pid,
        wyoming_uri=None if args.wyoming is None else settings.wyoming.uri,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: supervisor.stop())
    if args.parent_pid is None:
        print(f"swtts: serving on {supervisor.endpoint} with {supervisor.count} local worker(s)", file=sys.stderr)
        if supervisor.gateway is not None:
            print(f"swtts: speech API and page on http://{settings.http.bind}/", file=sys.stderr)
    supervisor.run()
    return 0

"""``swtts http``: the OpenAI-compatible speech API and its page, as a gateway process of its own."""

from __future__ import annotations

import argparse
import sys

from swtts.cli.flags import Subcommands, UsageError, add_connect
from swtts.config import ConfigError, Settings


def register(commands: Subcommands) -> None:
    http = commands.add_parser(
        "http",
        help="serve the OpenAI-compatible speech API and page for a running broker",
        description="Serve POST /v1/audio/speech (OpenAI's speech API), voices, models, health, metrics "
        "and a page to try it, for the broker at --connect, until Ctrl-C or SIGTERM. "
        "`swtts serve --http HOST:PORT` serves the same from the broker's own process.",
    )
    http.add_argument(
        "--bind",
        dest="http_bind",
        metavar="HOST:PORT",
        help="address to serve HTTP on (default 127.0.0.1:8000) [config: http.bind]",
    )
    add_connect(http, "broker endpoint, tcp://HOST:PORT (default from the config)")
    http.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.gateways.http import run_gateway

    try:
        settings = settings.override(http__bind=args.http_bind)
    except ConfigError as exc:
        raise UsageError(f"--bind {exc.problem}") from None
    endpoint = settings.service.endpoint
    print(f"swtts: speech API and page on http://{settings.http.bind}/ for the broker at {endpoint}", file=sys.stderr)
    run_gateway(settings, endpoint)
    return 0

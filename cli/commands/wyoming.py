"""``swtts wyoming``: a Wyoming TTS server (Home Assistant, voice satellites) in front of a running broker."""

from __future__ import annotations

import argparse
import sys

from swtts.cli.flags import Subcommands, add_connect, add_setting, override_from_flag
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    wyoming = commands.add_parser(
        "wyoming",
        help="Wyoming TTS server (Home Assistant) in front of a running broker",
        description="Serve the Wyoming protocol as a gateway process of its own, speaking through a "
        "broker started with `swtts serve`; several gateways may share one broker. "
        "Until Ctrl-C or SIGTERM.",
    )
    add_setting(wyoming, "--uri", "tcp://HOST:PORT or unix://PATH to serve", "URI")
    add_connect(wyoming, "broker endpoint, tcp://HOST:PORT (default from the config)")
    wyoming.add_argument(
        "--zeroconf",
        nargs="?",
        const="swtts",
        metavar="NAME",
        help="announce the server over zeroconf (default name swtts) [config: wyoming.zeroconf]",
    )
    wyoming.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.gateways.wyoming import WyomingGateway, run_gateway

    if args.zeroconf is not None:
        settings = override_from_flag(settings, "--zeroconf", "wyoming.zeroconf", args.zeroconf)
    gateway = WyomingGateway(settings, settings.service.endpoint)
    run_gateway(gateway, lambda: print(f"swtts: Wyoming server on {gateway.uri}", file=sys.stderr))
    return 0

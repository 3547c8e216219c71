"""``swtts cache``: statistics or clearing of the audio cache, local or a running broker's."""

from __future__ import annotations

import argparse
import json

from swtts.cli.flags import Subcommands, add_connect
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    cache = commands.add_parser("cache", help="audio cache statistics or clearing")
    cache.add_argument("action", choices=["stats", "clear"], help="stats: sizes and hit counts; clear: empty it")
    add_connect(cache, "ask a running broker, tcp://HOST:PORT (default: open the local cache directory)")
    cache.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.broker.cache import AudioCache
    from swtts.client import Client

    if args.connect:
        with Client(args.connect, settings) as client:
            if args.action == "stats":
                stats = client.cache_stats()
                print(json.dumps(stats.to_wire() if stats else None, indent=2))
            else:
                print(json.dumps({"removed": client.cache_clear()}, indent=2))
        return 0
    cfg = settings.cache
    with AudioCache(cfg.directory(), cfg.max_mb * 2**20, cfg.max_entries, cfg.ttl_s) as cache:
        if args.action == "clear":
            print(f"removed {cache.clear()} entries from {cfg.directory()}")
        else:
            print(json.dumps({"directory": str(cfg.directory()), **cache.stats().to_wire()}, indent=2))
    return 0

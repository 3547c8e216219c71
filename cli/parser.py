"""The ``swtts`` argument parser, and the settings its flags override."""

from __future__ import annotations

import argparse

from swtts.cli.commands import COMMANDS
from swtts.config import Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swtts", description="SuperWhisper TTS: fast local text-to-speech with Piper."
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    return settings.override(
        service__endpoint=getattr(args, "bind", None) or getattr(args, "connect", None),
        service__workers=getattr(args, "workers", None),
        voice__model=getattr(args, "voice", None),
        voice__device=getattr(args, "device", None),
        voice__threads=getattr(args, "threads", None),
        chunker__max_chunk_chars=getattr(args, "max_chunk_chars", None),
        synthesis__length_scale=getattr(args, "length_scale", None),
        synthesis__noise_scale=getattr(args, "noise_scale", None),
        synthesis__noise_w=getattr(args, "noise_w", None),
        synthesis__speaker=getattr(args, "speaker", None),
        synthesis__volume=getattr(args, "volume", None),
        metrics__enabled=True if getattr(args, "metrics_port", None) else None,
        metrics__port=getattr(args, "metrics_port", None),
    )

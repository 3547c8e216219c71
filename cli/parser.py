"""The ``swtts`` argument parser, and the settings its flags override."""

from __future__ import annotations

import argparse

from swtts.cli.commands import COMMANDS
from swtts.cli.flags import SETTING_FLAGS, Parser, add_global, override_from_flag
from swtts.config import Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="swtts", description="SuperWhisper TTS: fast local text-to-speech with Piper.")
    add_global(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    for sub in commands.choices.values():
        add_global(sub, top=False)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The config file's settings with the flags that were given on top, each checked as the file's are."""
    settings = load_settings(args.config)
    for flag, key in SETTING_FLAGS.items():
        text = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
        if text is not None:
            settings = override_from_flag(settings, flag, key, text)
    if getattr(args, "metrics_port", None) is not None:
        settings = settings.override(metrics__enabled=True)
    if getattr(args, "http", None) is not None:
        settings = settings.override(http__enabled=True)
    return settings

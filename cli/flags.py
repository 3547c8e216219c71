"""Flags shared by the subcommands, defined once so they read and fail the same everywhere.

A flag that overrides a config key is listed in :data:`SETTING_FLAGS`: its value is spelled as
in the TOML file (``auto``, ``voice`` included) and checked by the same rules, and an error
names the flag (``--length-scale must be > 0, got -1``).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeAlias

from swtts.config import ConfigError, Settings, parse_text

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each command module's ``register`` adds its subparser to."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

SETTING_FLAGS = {  # flag -> the config key it overrides
    "--bind": "service.endpoint",
    "--connect": "service.endpoint",
    "--workers": "service.workers",
    "--voice": "voice.model",
    "--device": "voice.device",
    "--threads": "voice.threads",
    "--max-chunk-chars": "chunker.max_chunk_chars",
    "--length-scale": "synthesis.length_scale",
    "--noise-scale": "synthesis.noise_scale",
    "--noise-w": "synthesis.noise_w",
    "--speaker": "synthesis.speaker",
    "--volume": "synthesis.volume",
    "--metrics-port": "metrics.port",
    "--uri": "wyoming.uri",
    "--http": "http.bind",
}


class UsageError(Exception):
    """Flags or settings the command cannot run with: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), not the whole usage."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument (\S+): (must .*)$", r"\1 \2", message)  # as a setting flag's error reads
        self.exit(2, f"swtts: error: {message} (see '{self.prog} --help')\n")


def add_global(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--log-level`` and ``--config``, accepted before the subcommand (``top``) and after it.

    After it they default to "not given", so they never undo a value given before it.
    """
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="WARNING" if top else argparse.SUPPRESS,
        help="what to log on stderr (case-insensitive; default WARNING; DEBUG adds tracebacks to errors)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None if top else argparse.SUPPRESS,
        help="TOML file overriding config/default.toml (flags override the file)",
    )


def override_from_flag(settings: Settings, flag: str, key: str, text: str) -> Settings:
    """``settings`` with ``key`` set from a flag's text, checked as the file's value is; an error names the flag."""
    try:
        return settings.override(**{key.replace(".", "__"): parse_text(key, text)})
    except ConfigError as exc:
        raise UsageError(f"{flag} {exc.problem}") from None


def add_setting(sub: argparse.ArgumentParser, flag: str, help: str, metavar: str | None = None) -> None:
    """A flag overriding the config key :data:`SETTING_FLAGS` names (shown at the end of its help)."""
    sub.add_argument(flag, metavar=metavar, help=f"{help} [config: {SETTING_FLAGS[flag]}]")


def add_connect(sub: argparse.ArgumentParser, help: str) -> None:
    add_setting(sub, "--connect", help, metavar="ENDPOINT")


def add_voice(sub: argparse.ArgumentParser) -> None:
    add_setting(
        sub, "--voice", "Piper voice .onnx (its .onnx.json beside it); default: the bundled en_US-joe-medium", "PATH"
    )
    add_setting(sub, "--device", "cpu, cuda or cuda:N (falls back to CPU, logged, without CUDA)")


def number(low: float, above: bool = False) -> Callable[[str], float]:
    """An argparse type for a flag that is no config key: a finite number >= low (or > low)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if above else 'at least'} {low:g}, got {text}")
        return value

    return parse


def add_text_source(parser: argparse.ArgumentParser, what: str) -> None:
    """The text as an argument, or ``--file PATH`` (``-`` for stdin): read by :func:`read_text`."""
    parser.add_argument("text", nargs="?", help=f"{what} (or use --file)")
    parser.add_argument("--file", "-f", help="read the text from a file, or '-' for stdin")


def read_text(args: argparse.Namespace) -> str:
    """The text of :func:`add_text_source`'s flags; ValueError naming what is wrong."""
    if args.text is not None and args.file:
        raise ValueError("give the text or --file, not both")
    if args.file == "-":
        return sys.stdin.read()
    if args.file:
        try:
            return Path(args.file).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{args.file} is not valid UTF-8 (byte offset {exc.start})") from None
    if args.text is None:
        raise ValueError("nothing to say: give the text, or --file PATH (or --file - for stdin)")
    text: str = args.text
    return text

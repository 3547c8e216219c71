"""Flags shared by several subcommands, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse
from typing import TypeAlias


def add_config(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", help="TOML file overriding config/default.toml")


def add_voice(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--voice", help="Piper voice .onnx (its .onnx.json beside it); default: bundled en_US-joe-medium")
    sub.add_argument("--device", help="cpu or cuda:0")


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each command module's ``register`` adds its subparser to."""

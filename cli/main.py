"""The ``swtts`` entry point: parse, configure logging, run the subcommand, map failures to exit codes.

Each subcommand lives in its own module under :mod:`swtts.cli.commands` (its flags and its
handler); :mod:`swtts.cli.parser` assembles them and turns flags into settings. Exit status:
0 done, 1 the work failed, 2 a usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from swtts.cli.flags import UsageError
from swtts.cli.parser import build_parser, settings_from_args
from swtts.config import ConfigError
from swtts.workers.voice_files import VOICE_LOAD_EXIT_CODE, VoiceLoadError

LOGGER = logging.getLogger("swtts")


def program() -> NoReturn:
    """The installed ``swtts`` command and ``python -m swtts``: :func:`main` on ``sys.argv``.

    A command that says so (``exit_at_once``: ``say``) has written and closed everything
    when it returns, so the process ends right there, its output and logs flushed, rather
    than spend a tenth of a second tearing down onnxruntime, zmq and numpy first.
    """
    args = _parse(None)
    code = _run(args)
    if getattr(args, "exit_at_once", False):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a reader gone, or a stream closed: nothing to flush to
                stream.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run one ``swtts`` command line; its exit status."""
    return _run(_parse(argv))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    return args


def _run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        return int(args.handler(args, settings) or 0)
    except VoiceLoadError as exc:
        _fail(args, str(exc))
        return VOICE_LOAD_EXIT_CODE
    except (ConfigError, UsageError) as exc:
        print(f"swtts: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("swtts: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; the traceback with --log-level debug
        LOGGER.debug("failure", exc_info=True)
        _fail(args, _one_line(exc))
        return 1


def _one_line(exc: Exception) -> str:
    """What went wrong, in one line; an error of an unexpected kind is named by its type."""
    from swtts.client import TTSError

    text = " ".join(str(exc).split())
    if isinstance(exc, (TTSError, OSError, ValueError, RuntimeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fail(args: argparse.Namespace, message: str) -> None:
    """One line for the user, or, in a child given ``--error-file``, for the parent that reports it."""
    if getattr(args, "error_file", None):
        Path(args.error_file).write_text(message + "\n", encoding="utf-8")
    else:
        print(f"swtts: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    program()

"""``swtts normalize``: print a text exactly as it will be spoken (markup removed, numbers read out)."""

from __future__ import annotations

import argparse
import logging
import sys

from swtts.cli.flags import Subcommands, UsageError, add_setting, add_text_source, read_text
from swtts.config import Settings

LOGGER = logging.getLogger(__name__)


def register(commands: Subcommands) -> None:
    normalize = commands.add_parser(
        "normalize",
        help="print a text exactly as it will be spoken",
        description="Print a text as the voice will read it: markdown removed (per the [normalize] config), "
        "numbers, money, times, dates, units and abbreviations written out in the voice's language. "
        "Nothing is synthesized and no voice is loaded.",
    )
    add_text_source(normalize, "the text")
    normalize.add_argument("--language", metavar="CODE", help="read it in this language (en, fr, en_US, fr-fr, ...)")
    add_setting(
        normalize,
        "--voice",
        "read it in the language of this Piper voice (its .onnx.json); default: the configured voice",
        "PATH",
    )
    normalize.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.pipeline.normalize import MarkupOptions, NormalizeOptions, language_key, languages, normalize

    if args.language is not None and args.voice is not None:
        raise UsageError("give --language or --voice, not both")
    if args.language is not None and language_key(args.language) not in languages():
        raise UsageError(f"--language has no reading rules for {args.language!r} (known: {', '.join(languages())})")
    text = read_text(args)
    language = args.language or _voice_language(settings.voice.model)
    config = settings.normalize
    if not config.enabled:
        LOGGER.info("normalize.enabled is false: the text is read as written")
        spoken = text
    else:
        markup = MarkupOptions(read_code_spans=config.read_code_spans, read_code_blocks=config.read_code_blocks)
        spoken = normalize(text, language, NormalizeOptions(markup_options=markup)).spoken
        if language_key(language) not in languages():
            LOGGER.warning("no reading rules for language %r: only its markup is removed", language)
    sys.stdout.write(spoken if spoken.endswith("\n") else spoken + "\n")
    return 0


def _voice_language(model: str) -> str:
    """The language a voice's worker reads in, from its .onnx.json (the model is not loaded)."""
    from swtts.workers.voice_files import read_voice_config, resolve_model

    voice = read_voice_config(*resolve_model(model or None))
    return voice.espeak_voice or voice.language

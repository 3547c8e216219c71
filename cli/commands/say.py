"""``swtts say``: speak a text into an audio file, through a running service or an embedded one.

Without ``--connect``, ``say`` first asks the configured endpoint (:mod:`swtts.cli.running`):
a broker there with a worker holding the voice is used as it is. Otherwise (or with
``--embedded``) a service is started for this one command, built to be done as soon as a
one-shot Piper run would be: its worker processes start first, before this process imports
anything heavy; one worker runs on a thread of this process and the broker on another (no
supervisor process); a text short enough for one worker gets one worker with every core, a
longer one a worker per core; the voices load quickly (no warm-up run, no solo session, no
graph optimizations); the first chunk goes out as soon as the first worker is ready; the file
is written as the chunks arrive; and the workers are killed, not waited for, once it is written.
"""

from __future__ import annotations

import argparse
import codecs
import io
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

from swtts.cli.flags import Subcommands, UsageError, add_connect, add_setting, add_text_source, read_text
from swtts.cli.running import running_service
from swtts.config import Settings
from swtts.pipeline.output_path import check_writable

LOGGER = logging.getLogger(__name__)

ONE_WORKER_CHARS_PER_CHUNK = 1.5
"""A text up to this many times ``max_chunk_chars`` gets one worker with every core: cut into a
short first chunk and one long one, it would keep a second worker busy longer than one worker
with both cores takes for the whole (and that worker's start-up would cost a core meanwhile)."""


def register(commands: Subcommands) -> None:
    say = commands.add_parser(
        "say",
        help="speak text into an audio file (a running service, else an embedded one)",
        description="Speak a text into an audio file. Without --connect, a service running at the configured "
        "endpoint is used if it has a worker with the voice; otherwise a broker and local workers are started "
        "for this one command and stopped after it.",
    )
    add_text_source(say, "text to speak")
    say.add_argument(
        "--output", "-o", default="speech.wav", help="WAV/FLAC/OGG path, or '-' for raw s16le PCM on stdout"
    )
    add_connect(say, "use the running service at this endpoint (tcp://HOST:PORT, ipc://PATH)")
    say.add_argument(
        "--embedded",
        action="store_true",
        help="start an embedded service even if one is running at the configured endpoint "
        "(so do --workers and --device, which only local workers can honour)",
    )
    add_setting(say, "--workers", "local workers of the embedded service, at least 1; auto = one per CPU core", "N")
    add_setting(
        say,
        "--voice",
        "Piper voice .onnx (its .onnx.json beside it); default: the bundled en_US-joe-medium. "
        "With --connect: a voice the service's workers hold, by path, name (file stem, e.g. en_US-joe-medium) "
        "or language (fr_FR, fr)",
        "VOICE",
    )
    add_setting(say, "--device", "cpu, cuda or cuda:N for the embedded workers (falls back to CPU, logged)")
    add_setting(say, "--max-chunk-chars", "longest chunk sent to one worker, in characters", "N")
    add_setting(say, "--length-scale", "speaking duration factor, > 0 (> 1 slower); voice = the voice's own", "X")
    add_setting(say, "--noise-scale", "phoneme noise, >= 0 (0 = deterministic); voice = the voice's own", "X")
    add_setting(say, "--noise-w", "phoneme-width noise, >= 0 (0 = deterministic); voice = the voice's own", "X")
    add_setting(say, "--speaker", "speaker id of a multi-speaker voice", "ID")
    add_setting(say, "--volume", "gain after loudness levelling, >= 0 (1 = unchanged)", "X")
    say.add_argument("--no-cache", action="store_true", help="neither read nor write the audio cache")
    say.add_argument(
        "--no-normalize",
        action="store_true",
        help="read the text as written: markup and all, numbers and abbreviations as espeak reads them "
        "[config: normalize.enabled]",
    )
    say.add_argument(
        "--stream",
        action="store_true",
        help="with --file -, read stdin as it comes (an LLM's tokens) and speak each sentence once complete "
        "(the output is always written as the audio arrives)",
    )
    say.add_argument(
        "--words", metavar="W.json", help='write when each word is spoken: [{"word", "start", "end"}, ...] in seconds'
    )
    say.add_argument(
        "--subtitles",
        metavar="S.srt|S.vtt",
        help="write subtitles of readable phrases that follow the audio (WebVTT with a timestamp per word)",
    )
    say.set_defaults(handler=run, exit_at_once=True)  # all written and closed when run returns


def _check_side_files(args: argparse.Namespace) -> None:
    """The word and subtitle files' folders exist and their kinds are known, before anything is spoken."""
    from swtts.pipeline.subtitles import FORMATS

    for flag, path, kinds in (("--words", args.words, (".json",)), ("--subtitles", args.subtitles, FORMATS)):
        if path is None:
            continue
        if Path(path).suffix.lower() not in kinds:
            raise UsageError(f"{flag} {path}: use a {' or '.join(kinds)} file")
        if not Path(path).resolve().parent.is_dir():
            raise UsageError(f"{flag} {path}: folder {Path(path).parent} does not exist")


class _Spoken(NamedTuple):
    """What the word and subtitle files need of a chunk."""

    text: str
    words: Sequence[Any]


def _write_side_files(args: argparse.Namespace, chunks: Sequence[_Spoken]) -> None:
    """The word list and subtitles of what was spoken (written whole, then renamed into place)."""
    from swtts.pipeline.subtitles import subtitles, words_json

    if args.words is not None:
        _write_text(Path(args.words), words_json([word for chunk in chunks for word in chunk.words]))
    if args.subtitles is not None:
        _write_text(Path(args.subtitles), subtitles(chunks, args.subtitles))


def _write_text(target: Path, text: str) -> None:
    """Written whole beside the target, then renamed into place: never half a file."""
    temporary = target.with_name(f".{target.name}.part")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)


def _check_workers(args: argparse.Namespace, settings: Settings) -> None:
    """An embedded service without a worker would wait for one until the request deadline."""
    if args.connect or settings.service.workers != 0:
        return
    if args.workers is not None:
        raise UsageError("--workers must be at least 1 for say, which needs a worker (or use --connect)")
    raise UsageError("service.workers = 0 leaves say without a worker: give --workers N or --connect")


def _stdin_pieces() -> Iterator[str]:
    """Stdin text as each write arrives, not line by line: an LLM piping tokens without newlines is spoken early."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    while data := cast(io.BufferedReader, sys.stdin.buffer).read1(65536):
        if text := decoder.decode(data):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


def run(args: argparse.Namespace, settings: Settings) -> int:
    _check_workers(args, settings)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleanup as for Ctrl-C: no partial file, no orphans
    if args.output != "-":
        check_writable(args.output)  # an output that cannot be written fails before anything starts
    _check_side_files(args)
    streaming = args.stream and args.file == "-"
    source: Any = _stdin_pieces() if streaming else read_text(args)
    endpoint: str | None = args.connect or (None if _embedded_only(args) else running_service(settings))
    service: Any = None  # an EmbeddedService when this command starts one
    try:
        if endpoint is None:
            service = _one_shot_service(settings, args, None if streaming else source)
            service.start_workers()  # first: their start-up overlaps everything below
        _import_the_rest(settings.normalize.enabled and not args.no_normalize)
        writer = _writer(args.output)
        try:
            if endpoint is not None:
                return _speak(_client(endpoint, settings), source, writer, args, endpoint)
            service.start(ready=1)  # the first chunk goes out as soon as the first worker is ready
            return _speak(service.client(), source, writer, args, None, service.workers)
        except BaseException:
            writer.abort()
            raise
    except BrokenPipeError:  # `-o - | head -c 1000`: the reader has all it wants; end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    finally:
        if service is not None:
            service.stop()


def _import_the_rest(normalize: bool) -> None:
    """What speaking needs, imported while the voice loads rather than once it is ready."""
    import swtts.cli.progress
    import swtts.client.output

    if normalize:  # the client strips the text's markup before sending it
        import swtts.pipeline.normalize.markup  # noqa: F401


def _embedded_only(args: argparse.Namespace) -> bool:
    """``--embedded``, or flags that only local workers can honour (how many, on which device)."""
    return bool(args.embedded or args.workers is not None or args.device is not None)


def _one_shot_service(settings: Settings, args: argparse.Namespace, text: str | None) -> Any:
    """An embedded service sized for this text, one of its workers in this process (see the module docstring)."""
    from swtts.service.embedded import EmbeddedService

    workers = settings.service.local_workers()
    short = text is not None and len(text) <= ONE_WORKER_CHARS_PER_CHUNK * settings.chunker.max_chunk_chars
    if short and args.workers is None:  # --workers N is what the user asked for
        workers = 1
    LOGGER.info("no running service used; starting an embedded one with %d worker(s) for this text", workers)
    return EmbeddedService(
        settings.override(voice__quick_start=True, cache__enabled=False if args.no_cache else None),
        workers=workers,
        use_cache=not args.no_cache,
        log_level=args.log_level.upper(),
        in_process=True,
    )


def _client(endpoint: str, settings: Settings) -> Any:
    from swtts.client import Client

    LOGGER.info("using the running service at %s", endpoint)
    return Client(endpoint, settings)


def _writer(output: str) -> Any:
    from swtts.pipeline.assembly import AudioFileWriter, RawPcmWriter

    return RawPcmWriter() if output == "-" else AudioFileWriter(output)


def _speak(
    client: Any, source: Any, writer: Any, args: argparse.Namespace, endpoint: str | None, workers: int = 0
) -> int:
    from swtts.cli.progress import ProgressBar
    from swtts.client import SynthesisOptions
    from swtts.client.output import write_stream
    from swtts.protocol import voice_name

    if args.connect:
        voice = Path(args.voice).name.removesuffix(".onnx") if args.voice else None
    else:
        voice = None if endpoint is None else voice_name(client.settings.voice.model)
    options = SynthesisOptions(use_cache=not args.no_cache, voice=voice, normalize=False if args.no_normalize else None)
    progress = ProgressBar()
    started = time.perf_counter()
    done = 0
    spoken: list[_Spoken] = []

    def on_chunk(chunk: Any) -> None:
        nonlocal done
        done += 1
        progress.update(done, chunk.total, chunk.duration_s)
        if args.words or args.subtitles:
            spoken.append(_Spoken(chunk.text, chunk.words))  # the words only: the audio is already written

    with client:
        stream = client.stream(source, options)
        written = write_stream(stream, writer, client.settings.assembly, lambda: stream.timings, on_chunk)
    progress.close()
    _write_side_files(args, spoken)
    via = f"the service at {endpoint}" if endpoint else f"an embedded service ({workers} worker(s))"
    LOGGER.info("spoken through %s", via)
    if written.path is not None:
        _report(written.path, written.duration_s, written.chunks, time.perf_counter() - started, written.timings, via)
    return 0


def _report(path: Path, audio_s: float, chunks: int, wall_s: float, timings: dict[str, Any], via: str) -> None:
    first = timings.get("first_audio_ms")
    extra = f", first audio {first:.0f} ms" if first is not None else ""
    cached = timings.get("cached_chunks")
    extra += f", {cached} chunk(s) from cache" if cached else ""
    print(
        f"wrote {path}: {audio_s:.1f} s of audio in {chunks} chunk(s), {wall_s:.1f} s wall "
        f"({audio_s / wall_s if wall_s else 0:.1f}x real time){extra}, through {via}",
        file=sys.stderr,
    )

"""``swtts say``: speak a text into an audio file, through an embedded service or a running one."""

from __future__ import annotations

import argparse
import codecs
import io
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from swtts.cli.flags import Subcommands, UsageError, add_connect, add_setting
from swtts.config import Settings


def register(commands: Subcommands) -> None:
    say = commands.add_parser(
        "say",
        help="speak text into an audio file (embedded service unless --connect)",
        description="Speak a text into an audio file. Without --connect a broker and --workers local workers "
        "are started for this one command and stopped after it.",
    )
    say.add_argument("text", nargs="?", help="text to speak (or use --file)")
    say.add_argument("--file", "-f", help="read the text from a file, or '-' for stdin")
    say.add_argument(
        "--output", "-o", default="speech.wav", help="WAV/FLAC/OGG path, or '-' for raw s16le PCM on stdout"
    )
    add_connect(say, "use a running service (tcp://HOST:PORT) instead of an embedded one")
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
        "--stream", action="store_true", help="write audio as it arrives (with --file -, read stdin as it comes)"
    )
    say.add_argument(
        "--words", metavar="W.json", help='write when each word is spoken: [{"word", "start", "end"}, ...] in seconds'
    )
    say.add_argument(
        "--subtitles",
        metavar="S.srt|S.vtt",
        help="write subtitles of readable phrases that follow the audio (WebVTT with a timestamp per word)",
    )
    say.set_defaults(handler=run)


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


def _write_side_files(args: argparse.Namespace, chunks: list[Any]) -> None:
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


def read_text(args: argparse.Namespace) -> str:
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
    from swtts.client import Client, SynthesisOptions
    from swtts.pipeline.assembly import check_output_path
    from swtts.service import EmbeddedService

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleanup as for Ctrl-C: no partial file, no orphans
    if args.output != "-":
        check_output_path(args.output)
    _check_side_files(args)
    source: Any = _stdin_pieces() if (args.stream and args.file == "-") else read_text(args)
    options = SynthesisOptions(
        use_cache=not args.no_cache,
        normalize=False if args.no_normalize else None,
        voice=Path(args.voice).name.removesuffix(".onnx") if (args.voice and args.connect) else None,
    )
    if args.connect:
        with Client(args.connect, settings) as client:
            return _speak(client, source, args, options)
    with EmbeddedService(settings, use_cache=not args.no_cache, log_level=args.log_level.upper()) as service:
        return _speak(service.client(), source, args, options)


def _speak(client: Any, source: Any, args: argparse.Namespace, options: Any) -> int:
    from swtts.cli.progress import ProgressBar
    from swtts.pipeline.assembly import Assembler, AudioFileWriter, RawPcmWriter

    progress = ProgressBar()
    started = time.perf_counter()
    if not args.stream and args.output != "-":
        done = 0

        def on_chunk(chunk: Any) -> None:
            nonlocal done
            done += 1
            progress.update(done, chunk.total, chunk.duration_s)

        result = client.synthesize(source, options, on_chunk=on_chunk)
        progress.close()
        path = result.write(args.output)
        _write_side_files(args, result.chunks)
        _report(path, result.duration_s, len(result.chunks), time.perf_counter() - started, result.timings)
        return 0
    assembler = Assembler(client.settings.assembly)
    writer: Any = None
    frames = 0
    count = 0
    spoken = []
    try:
        for chunk in client.stream(source, options):
            if args.words or args.subtitles:
                spoken.append(chunk)
            if writer is None:
                writer = RawPcmWriter() if args.output == "-" else AudioFileWriter(args.output, chunk.sample_rate)
            samples = assembler.add(chunk)
            writer.write(samples)
            frames += samples.size
            count += 1
            progress.update(count, chunk.total, chunk.duration_s)
            sample_rate = chunk.sample_rate
        progress.close()
        if writer is None:
            raise ValueError("no audio was produced")
        if isinstance(writer, AudioFileWriter):
            path = writer.commit()
            _report(path, frames / sample_rate, count, time.perf_counter() - started, {})
        _write_side_files(args, spoken)
        return 0
    except BaseException:
        if isinstance(writer, AudioFileWriter):
            writer.abort()
        raise


def _report(path: Path, audio_s: float, chunks: int, wall_s: float, timings: dict[str, Any]) -> None:
    first = timings.get("first_audio_ms")
    extra = f", first audio {first:.0f} ms" if first is not None else ""
    cached = timings.get("cached_chunks")
    extra += f", {cached} chunk(s) from cache" if cached else ""
    print(
        f"wrote {path}: {audio_s:.1f} s of audio in {chunks} chunk(s), {wall_s:.1f} s wall "
        f"({audio_s / wall_s if wall_s else 0:.1f}x real time){extra}",
        file=sys.stderr,
    )

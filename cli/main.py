"""The ``swtts`` command line: say, serve, worker, ping, status, cache, keys."""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from swtts.config import ConfigError, Settings, load_settings

LOGGER = logging.getLogger("swtts")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = _settings(args)
        return int(args.handler(args, settings) or 0)
    except ConfigError as exc:
        print(f"swtts: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("swtts: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; details with --log-level debug
        from swtts.client import TTSError

        if not isinstance(exc, (TTSError, OSError, ValueError, RuntimeError)):
            raise
        LOGGER.debug("failure", exc_info=True)
        print(f"swtts: error: {exc}", file=sys.stderr)
        return 1


def _settings(args: argparse.Namespace) -> Settings:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swtts", description="SuperWhisper TTS: fast local text-to-speech with Piper."
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", help="TOML file overriding config/default.toml")

    def voice(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--voice", help="Piper voice .onnx (its .onnx.json beside it); default: bundled en_US-joe-medium"
        )
        sub.add_argument("--device", help="cpu or cuda:0")

    say = commands.add_parser("say", help="speak text into an audio file (embedded service unless --connect)")
    say.add_argument("text", nargs="?", help="text to speak (or use --file)")
    say.add_argument("--file", "-f", help="read the text from a file, or '-' for stdin")
    say.add_argument(
        "--output", "-o", default="speech.wav", help="WAV/FLAC/OGG path, or '-' for raw s16le PCM on stdout"
    )
    say.add_argument("--connect", help="use a running service at tcp://HOST:PORT instead of an embedded one")
    say.add_argument("--workers", type=int, help="local workers for the embedded service (default: one per core)")
    say.add_argument("--max-chunk-chars", type=int)
    say.add_argument("--length-scale", type=float, help="speaking duration factor (>1 slower)")
    say.add_argument("--noise-scale", type=float)
    say.add_argument("--noise-w", type=float)
    say.add_argument("--speaker", type=int)
    say.add_argument("--volume", type=float)
    say.add_argument("--no-cache", action="store_true", help="bypass the audio cache")
    say.add_argument(
        "--stream", action="store_true", help="write audio as it arrives (with --file -, read stdin as it comes)"
    )
    common(say)
    voice(say)
    say.set_defaults(handler=_cmd_say)

    serve = commands.add_parser("serve", help="run the broker and local workers until Ctrl-C/SIGTERM")
    serve.add_argument("--bind", help="endpoint to bind (default from config: tcp://127.0.0.1:5555)")
    serve.add_argument("--workers", type=int, help="local worker processes (default: one per core; 0 = none)")
    serve.add_argument("--no-cache", action="store_true")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--http", metavar="HOST:PORT", help="also serve the OpenAI-compatible speech API and page")
    common(serve)
    voice(serve)
    serve.set_defaults(handler=_cmd_serve)

    http = commands.add_parser("http", help="serve the OpenAI-compatible speech API and page for a running broker")
    http.add_argument("--bind", dest="http_bind", metavar="HOST:PORT", help="default from config: 127.0.0.1:8000")
    http.add_argument("--connect", help="broker endpoint, e.g. tcp://127.0.0.1:5555")
    common(http)
    http.set_defaults(handler=_cmd_http)

    worker = commands.add_parser("worker", help="join a broker as a worker (this or another machine)")
    worker.add_argument("--connect", help="broker endpoint, e.g. tcp://HOST:5555")
    worker.add_argument("--threads", type=int, help="onnxruntime threads for this worker")
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    common(worker)
    voice(worker)
    worker.set_defaults(handler=_cmd_worker)

    ping = commands.add_parser("ping", help="exit 0 once the broker answers with at least one ready worker")
    ping.add_argument("--connect")
    ping.add_argument("--wait", type=float, default=0.0, help="keep trying for this many seconds")
    common(ping)
    ping.set_defaults(handler=_cmd_ping)

    status = commands.add_parser("status", help="live view of workers, queue, cache and throughput")
    status.add_argument("--connect")
    status.add_argument("--json", action="store_true", help="print one JSON snapshot and exit")
    status.add_argument("--interval", type=float, default=1.0)
    common(status)
    status.set_defaults(handler=_cmd_status)

    cache = commands.add_parser("cache", help="audio cache statistics or clearing")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--connect", help="ask a running broker (default: open the local cache directory)")
    common(cache)
    cache.set_defaults(handler=_cmd_cache)

    keys = commands.add_parser("keys", help="generate CURVE key pairs for a non-loopback broker")
    keys.add_argument("directory", type=Path)
    keys.add_argument("--name", action="append", default=None, help="client/worker key names (default: client, worker)")
    keys.set_defaults(handler=_cmd_keys)
    return parser


def _read_text(args: argparse.Namespace) -> str:
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
    return args.text


def _stdin_pieces() -> Iterator[str]:
    """Stdin text as each write arrives, not line by line: an LLM piping tokens without newlines is spoken early."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    while data := sys.stdin.buffer.read1(65536):
        if text := decoder.decode(data):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


def _cmd_say(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.client import Client
    from swtts.pipeline.assembly import check_output_path
    from swtts.service import EmbeddedService
    from swtts.workers.engine import resolve_model

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleanup as for Ctrl-C: no partial file, no orphans
    if args.output != "-":
        check_output_path(args.output)
    source: Any = _stdin_pieces() if (args.stream and args.file == "-") else _read_text(args)
    options = {
        "use_cache": not args.no_cache,
        "voice": Path(args.voice).name.removesuffix(".onnx") if (args.voice and args.connect) else None,
    }
    if args.connect:
        with Client(args.connect, settings) as client:
            return _speak(client, source, args, options)
    resolve_model(settings.voice.model or None)
    with EmbeddedService(settings, use_cache=not args.no_cache, log_level=args.log_level.upper()) as service:
        return _speak(service.client(), source, args, options)


def _speak(client: Any, source: Any, args: argparse.Namespace, options: dict[str, Any]) -> int:
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

        result = client.synthesize(source, on_chunk=on_chunk, **options)
        progress.close()
        path = result.write(args.output)
        _report(path, result.duration_s, len(result.chunks), time.perf_counter() - started, result.timings)
        return 0
    assembler = Assembler(client.settings.assembly)
    writer: Any = None
    frames = 0
    count = 0
    try:
        for chunk in client.stream(source, **options):
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


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.service import Supervisor

    supervisor = Supervisor(
        settings,
        workers=args.workers,
        use_cache=False if args.no_cache else None,
        log_level=args.log_level.upper(),
        parent_pid=args.parent_pid,
        http_bind=args.http,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: supervisor.stop())
    if args.parent_pid is None:
        print(f"swtts: serving on {supervisor.endpoint} with {supervisor.count} local worker(s)", file=sys.stderr)
        if supervisor.http_bind:
            print(f"swtts: speech API and page on http://{supervisor.http_bind}/", file=sys.stderr)
    supervisor.run()
    return 0


def _cmd_http(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.gateways.http import run_gateway

    bind = args.http_bind or settings.http.bind
    print(
        f"swtts: speech API and page on http://{bind}/ for the broker at {settings.service.endpoint}", file=sys.stderr
    )
    run_gateway(settings, settings.service.endpoint, bind)
    return 0


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.workers.worker import run_worker

    run_worker(settings, args.connect, args.parent_pid)
    return 0


def _cmd_ping(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.client import Client, TTSError

    deadline = time.monotonic() + args.wait
    with Client(args.connect, settings) as client:
        while True:
            try:
                reply = client.ping(timeout_s=1.0)
                if reply["ready"] >= 1:
                    print(
                        f"ok: {reply['ready']} ready of {reply['workers']} worker(s); voices: {', '.join(reply['voices'])}"
                    )
                    return 0
                problem = f"broker answers but has no ready worker ({reply['workers']} connected)"
            except TTSError as exc:
                problem = exc.message
            if time.monotonic() >= deadline:
                print(f"swtts: {problem}", file=sys.stderr)
                return 1
            time.sleep(0.2)


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.cli.status_view import render_status
    from swtts.client import Client

    with Client(args.connect, settings) as client:
        if args.json:
            print(json.dumps(client.status(), indent=2))
            return 0
        previous: dict[str, Any] | None = None
        try:
            while True:
                snapshot = client.status()
                sys.stdout.write("\x1b[2J\x1b[H" + render_status(snapshot, previous, args.interval) + "\n")
                sys.stdout.flush()
                previous = snapshot
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _cmd_cache(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.broker.cache import AudioCache
    from swtts.client import Client

    if args.connect:
        with Client(args.connect, settings) as client:
            reply = client.cache_stats() if args.action == "stats" else client.cache_clear()
        print(json.dumps(reply.get("cache", reply), indent=2))
        return 0
    cfg = settings.cache
    with AudioCache(cfg.directory(), cfg.max_mb * 2**20, cfg.max_entries, cfg.ttl_s) as cache:
        if args.action == "clear":
            print(f"removed {cache.clear()} entries from {cfg.directory()}")
        else:
            print(json.dumps({"directory": str(cfg.directory()), **cache.stats().as_dict()}, indent=2))
    return 0


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from swtts.broker.security import generate_keys

    names = ["server", *(args.name or ["client", "worker"])]
    for path in generate_keys(args.directory, names):
        print(path)
    print(f"allowed public keys: {args.directory / 'allowed'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

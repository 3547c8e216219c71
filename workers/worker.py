"""A worker process: connects a DEALER to the broker, announces READY, synthesizes tasks.

One thread owns the broker socket and also does the synthesis, so a task goes from socket
to voice and its audio back to the socket with no thread hand-off on the way (each hand-off
was a wake-up on the latency path). While a chunk is being spoken, the thread lets go of the
socket, and a small heartbeat thread takes it to keep beating (Paranoid Pirate): the broker
notices only real deaths. A lock passes the socket between the two, so it is never used by
both at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket as pysocket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import zmq

from swtts.config import Settings
from swtts.pipeline.normalize import VERSION, NormalizedText, NormalizeOptions, normalize, normalizer_for
from swtts.pipeline.sentences import sentence_spans
from swtts.pipeline.timings import word_timings
from swtts.protocol import (
    Disconnect,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Message,
    ProtocolError,
    Ready,
    Result,
    Task,
    VoiceDescription,
    WordSpan,
    decode,
)
from swtts.protocol.curve import SecurityError, secure_client
from swtts.workers.engine import Engine, Synthesized, VoiceInfo
from swtts.workers.parent import parent_alive

LOGGER = logging.getLogger(__name__)

PLAIN = NormalizeOptions(markup=False)  # the producer has removed the markup already


def load_reading(espeak_voice: str, language: str) -> tuple[str, str]:
    """What a voice's text is read as (its espeak voice, else its language) and its normalizer's name.

    The normalizer's rules load now, not on the first chunk (the one-shot ``say`` loads them
    while its voice loads).
    """
    reading = espeak_voice or language
    normalizer = normalizer_for(reading)
    return reading, f"{normalizer.code}/{VERSION}" if normalizer is not None else ""


class Worker:
    """One voice, one broker connection; reconnects with backoff when the broker goes quiet."""

    def __init__(
        self, engine: Engine, settings: Settings, endpoint: str | None = None, parent_pid: int | None = None
    ) -> None:
        self.engine = engine
        self.parent_pid = parent_pid
        self.settings = settings
        self.endpoint = endpoint or settings.service.endpoint
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.stop_event = threading.Event()
        voice = settings.voice
        self.capacity = voice.batch_max_size if engine.batching else 1
        self.batch_wait_s = voice.batch_max_wait_ms / 1000
        self.poll_s = min(settings.service.heartbeat_interval_s, 0.25)  # how soon an idle worker sees stop_event
        self._socket_lock = threading.Lock()  # held by the main loop except while it is speaking
        self._speaking = False
        self._dealer: zmq.Socket[bytes] | None = None
        self.refused = ""  # the broker's word when it will not take this peer as a worker (its key)
        self.language, self.normalizer = load_reading(engine.info.espeak_voice, engine.info.language)

    def run(self) -> None:
        """Serve until :attr:`stop_event` is set; tasks already accepted are spoken before leaving."""
        service = self.settings.service
        interval = service.heartbeat_interval_s
        backoff = service.reconnect_initial_s
        pending: list[Task] = []
        self._socket_lock.acquire()
        dealer = self._dealer = self._connect()
        beater = threading.Thread(target=self._beat_while_speaking, name="heartbeat", daemon=True)
        beater.start()
        heard = time.monotonic()
        next_beat = heard + interval
        try:
            while True:
                if not parent_alive(self.parent_pid):
                    LOGGER.warning("parent process is gone; worker %d leaving", os.getpid())
                    self.stop_event.set()
                if pending:
                    self._gather(dealer, pending)
                    self._speak(dealer, pending)
                    pending = []
                if self.stop_event.is_set():
                    break
                if dealer.poll(timeout=int(self.poll_s * 1000)):
                    heard = time.monotonic()
                    backoff = service.reconnect_initial_s
                    self._drain(dealer, pending)
                now = time.monotonic()
                if now >= next_beat:
                    send(dealer, Heartbeat())
                    next_beat = now + interval
                if now - heard > interval * service.heartbeat_liveness:
                    LOGGER.warning("broker silent for %.1f s; reconnecting in %.2f s", now - heard, backoff)
                    dealer.close(linger=0)
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, service.reconnect_max_s)
                    dealer = self._dealer = self._connect()
                    heard = time.monotonic()
            send(dealer, Disconnect())
        finally:
            self.stop_event.set()
            self._dealer = None
            self._socket_lock.release()
            beater.join(timeout=5)
            dealer.close(linger=500)

    def _connect(self) -> zmq.Socket[bytes]:
        dealer = self.context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.SNDHWM, 1000)
        dealer.setsockopt(zmq.RCVHWM, 1000)
        secure_client(dealer, self.settings.security)
        dealer.connect(self.endpoint)
        send(dealer, self._ready())
        LOGGER.info("worker %d connected to %s with voice %s", os.getpid(), self.endpoint, self.engine.info.name)
        return dealer

    def _ready(self) -> Ready:
        """READY: sent on every connect and whenever the broker says it does not know us."""
        return Ready(
            voice=describe(self.engine.info),
            voice_hash=self.engine.info.voice_hash,
            device=self.engine.info.device,
            host=pysocket.gethostname(),
            pid=os.getpid(),
            capacity=self.capacity,
            batching=self.engine.batching,
            solo=bool(self.engine.solo_threads),
            normalizer=self.normalizer,
        )

    def _drain(self, dealer: zmq.Socket[bytes], pending: list[Task]) -> None:
        """Handle every message waiting on the socket; tasks join ``pending``.

        A task that cannot be read is answered FAILED at once (naming the problem), so its
        request fails clearly instead of waiting for the deadline.
        """
        while dealer.poll(0):
            try:
                message = decode(dealer.recv_multipart())
            except ProtocolError as exc:
                if exc.request_id is not None and exc.index is not None:
                    send(dealer, Failed(exc.request_id, exc.index, f"unusable task: {exc.message}"))
                else:
                    LOGGER.warning("ignoring malformed message from broker: %s", exc)
                continue
            if isinstance(message, Task):
                pending.append(message)
            elif isinstance(message, Error) and message.code is ErrorCode.UNKNOWN_PEER:
                # A restarted broker reached over the same (auto-reconnected) socket never saw READY.
                LOGGER.info("broker does not know worker %d (it restarted?); announcing again", os.getpid())
                send(dealer, self._ready())
            elif isinstance(message, Error) and message.code is ErrorCode.FORBIDDEN:
                self.refused = message.message  # a retry would be refused the same way
                self.stop_event.set()
            elif not isinstance(message, Heartbeat):
                LOGGER.warning("ignoring unexpected %s message from broker", message.TYPE.value)

    def _gather(self, dealer: zmq.Socket[bytes], pending: list[Task]) -> None:
        """With batching, wait up to batch_max_wait_ms for more tasks to share a forward pass."""
        deadline = time.monotonic() + self.batch_wait_s
        while len(pending) < self.capacity and (left := deadline - time.monotonic()) > 0:
            if dealer.poll(int(left * 1000)):
                self._drain(dealer, pending)

    def _speak(self, dealer: zmq.Socket[bytes], tasks: list[Task]) -> None:
        """Synthesize with the socket let go (the heartbeat thread may use it), send each result at once."""
        results = self._run_tasks(tasks)
        while True:
            with self._socket_released():
                answer = next(results, None)
            if answer is None:
                return
            send(dealer, answer)

    @contextmanager
    def _socket_released(self) -> Iterator[None]:
        self._speaking = True
        self._socket_lock.release()
        try:
            yield
        finally:
            self._socket_lock.acquire()
            self._speaking = False

    def _beat_while_speaking(self) -> None:
        """Heartbeat thread: beats only while the main loop is speaking (it beats itself otherwise)."""
        interval = self.settings.service.heartbeat_interval_s
        while not self.stop_event.wait(interval):
            if self._speaking:
                with self._socket_lock:
                    if self._speaking and self._dealer is not None:
                        send(self._dealer, Heartbeat())

    def _run_tasks(self, tasks: list[Task]) -> Iterator[Result | Failed]:
        """The answer to each task, shortest first, each group sent as soon as its pass is done.

        Gathered tasks are sorted by length and cut into groups of at most ``capacity``
        sentences, so similar lengths share a forward pass (little padding). A document's
        first chunk (index 0) goes first and alone: its audio is the request's first audio,
        and must not wait for a padded pass over its neighbours.
        """
        group: list[Task] = []
        rows = 0
        for task in sorted(tasks, key=lambda t: (t.index != 0, len(t.text))):
            sentences = max(1, len(sentence_spans(task.text)))
            if group and (rows + sentences > self.capacity or group[-1].index == 0):
                yield from self._run_group(group)
                group, rows = [], 0
            group.append(task)
            rows += sentences
        if group:
            yield from self._run_group(group)

    def reading(self, task: Task) -> NormalizedText:
        """The chunk as it will be spoken, with the map back to its text as sent.

        A normalizer failure is logged and the chunk read as written: it must not cost the audio.
        """
        if task.normalize:
            try:
                return normalize(task.text, self.language, PLAIN)
            except Exception:
                LOGGER.exception("normalizing chunk %s:%d failed; reading it as written", task.request_id, task.index)
        return NormalizedText(task.text, task.text, ())

    def words(self, task: Task, reading: NormalizedText, result: Synthesized) -> tuple[WordSpan, ...]:
        """When each word of the chunk (as sent) is spoken; none if that cannot be worked out,
        which is logged: it must not cost the audio."""
        try:
            return tuple(word_timings(reading, result.phones, self.engine.word_phonemes))
        except Exception:
            LOGGER.exception(
                "word timings of chunk %s:%d failed; sending its audio without them", task.request_id, task.index
            )
            return ()

    def _run_group(self, group: list[Task]) -> Iterator[Result | Failed]:
        readings = [self.reading(task) for task in group]
        try:
            if self.engine.batching:  # also one chunk: its sentences share padded passes
                items = [(reading.spoken, task.params) for reading, task in zip(readings, group, strict=True)]
                results = self.engine.synthesize_batch(items, self.capacity)
            else:
                results = [self.engine.synthesize(readings[0].spoken, group[0].params, group[0].solo)]
        except Exception as exc:  # any engine failure must reach the broker, not kill the worker
            chunks = ", ".join(f"{t.request_id}:{t.index}" for t in group)
            if self.stop_event.is_set():  # cut short by a stop (Engine.cancel): nothing went wrong
                LOGGER.debug("chunk(s) %s cut short: the worker is stopping, the broker re-sends them", chunks)
                return
            LOGGER.exception("chunk(s) %s failed", chunks)
            for task in group:
                yield Failed(task.request_id, task.index, f"{type(exc).__name__}: {exc}")
            return
        for task, reading, result in zip(group, readings, results, strict=True):
            yield Result(
                request_id=task.request_id,
                index=task.index,
                pcm=result.pcm,
                sample_rate=result.sample_rate,
                sentence_samples=tuple(result.sentence_samples),
                phonemes=result.phonemes,
                words=self.words(task, reading, result),
                synth_ms=round(result.synth_ms, 3),
                batch=len(group),
                solo=len(group) == 1 and group[0].solo and bool(self.engine.solo_threads),
            )


def describe(info: VoiceInfo) -> VoiceDescription:
    """The engine's voice as READY tells the broker about it."""
    return VoiceDescription(
        name=info.name,
        language=info.language,
        espeak_voice=info.espeak_voice,
        sample_rate=info.sample_rate,
        num_speakers=info.num_speakers,
        speakers=dict(info.speakers),
    )


def send(dealer: zmq.Socket[bytes], message: Message) -> None:
    """Send without blocking: a socket the broker refused (CURVE) has no pipe, and a blocking
    send would hang the worker for good, deaf to SIGTERM and never reconnecting."""
    try:
        dealer.send_multipart(message.encode(), zmq.NOBLOCK)
    except zmq.Again:
        LOGGER.debug("no connection to the broker; dropped a %s message", message.TYPE.value)


def run_worker(settings: Settings, endpoint: str | None = None, parent_pid: int | None = None) -> None:
    """Load the configured voice and serve until SIGINT/SIGTERM (or the parent process exits)."""
    worker = Worker(Engine.from_settings(settings), settings, endpoint, parent_pid)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: worker.stop_event.set())
    worker.run()
    if worker.refused:
        raise SecurityError(f"the broker at {worker.endpoint} refuses this worker: {worker.refused}")

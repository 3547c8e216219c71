"""The synthesis engine: one Piper voice loaded once, turning a chunk of text into PCM.

A CPU engine may hold a second, *solo* session with more threads over the same voice: the
broker asks for it when the worker is the only busy one on its host and nothing else is
queued, so a lone short reply gets every core while a busy pool keeps one core per worker.
Both sessions draw on one shared memory arena (they never run at once), which keeps the
second session's cost to its copy of the weights.

Loading checks the voice's files first (:func:`check_voice`), and any failure to load or
warm it up becomes a :class:`VoiceLoadError` with one line naming the file and the reason.
A *quick start* (one short job) skips the warm-up, the solo session and the graph
optimizations; a voice that cannot speak then fails its first chunk instead, in one line too.

No forward pass speaks more than :data:`~swtts.workers.passes.MAX_PASS_PHONEMES` phonemes,
so a worker's memory is bounded whatever the text (see :mod:`swtts.workers.passes`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig

from swtts.config import Settings
from swtts.pipeline.sentences import sentence_spans
from swtts.pipeline.timings import Phone
from swtts.protocol import SynthesisParams
from swtts.workers.loudness import level_audio
from swtts.workers.passes import bounded_pieces
from swtts.workers.phones import Spoken, concatenated, joined, pass_phones
from swtts.workers.session import (
    SessionOpening,
    SessionPlan,
    graph_folder,
    runs_on_cuda,
    settings_threads,
    use_batching,
)
from swtts.workers.threads import in_thread
from swtts.workers.voice_files import VoiceFile, check_voice, voice_digest, voice_error

LOGGER = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 400
_WORDS_REMEMBERED = 20_000  # words read alone (for word timings): a few MB at most


@dataclass(frozen=True)
class VoiceInfo:
    """What a worker tells the broker about its voice (and what keys the cache)."""

    name: str
    model_path: str
    voice_hash: str
    sample_rate: int
    num_speakers: int
    speakers: dict[str, int]
    language: str
    espeak_voice: str
    device: str


@dataclass(frozen=True)
class Synthesized:
    """One chunk's audio: int16 PCM plus per-sentence lengths so gaps can be inserted later, and
    each phoneme's span of it (empty when the voice does not tell)."""

    pcm: bytes
    sample_rate: int
    sentence_samples: list[int]
    phonemes: str
    synth_ms: float
    phones: list[Phone] = field(default_factory=list)


class Engine:
    """A loaded voice. Build once per process; :meth:`synthesize` is called per chunk."""

    def __init__(
        self,
        model: str | Path | VoiceFile | None = None,
        device: str = "cpu",
        threads: int = 1,
        gpu_mem_limit_mb: int = 0,
        batching: str = "off",
        solo_threads: int = 0,
        quick_start: bool = False,
        identify: bool = True,
        graphs: Path | None = None,
        opening: SessionOpening | None = None,
    ) -> None:
        voice = model if isinstance(model, VoiceFile) else check_voice(model)
        digest = (  # hashing 60 MB overlaps the session's load
            in_thread("voice-digest", voice_digest, voice.model_path, voice.config_path) if identify else None
        )
        config = _piper_config(voice)
        started = time.perf_counter()
        self.threads = max(1, threads)
        self._word_phonemes: dict[str, list[str]] = {}
        self.quick_start = quick_start
        self._run_options = onnxruntime.RunOptions()
        plan = SessionPlan.decide(
            voice.model_path, device, self.threads, gpu_mem_limit_mb, solo_threads, quick_start, graphs
        )
        self._open_sessions(voice, config, plan, batching, opening)
        actual_device = plan.device
        if actual_device != "cpu" and not runs_on_cuda(self.voice.session):
            LOGGER.warning(
                "onnxruntime could not start its CUDA provider for %s (its own error above names the missing "
                "library or driver); using CPU",
                actual_device,
            )
            actual_device = "cpu"
            plan = SessionPlan.decide(voice.model_path, "cpu", self.threads, 0, solo_threads, quick_start, graphs)
            self._open_sessions(voice, config, plan, batching)
        self.last_batch_sizes: list[int] = []
        self.info = VoiceInfo(
            name=voice.name,
            model_path=str(voice.model_path),
            voice_hash=digest.result() if digest is not None else "",
            sample_rate=voice.sample_rate,
            num_speakers=voice.num_speakers,
            speakers=voice.speakers,
            language=voice.language,
            espeak_voice=voice.espeak_voice,
            device=actual_device,
        )
        try:
            for solo in ((False, True) if self.solo_voice else (False,)) if not quick_start else ():
                self.synthesize("Ready.", SynthesisParams(), solo)  # first run allocates: keep it off the first request
        except Exception as exc:  # a graph onnxruntime loads but cannot run is still a voice that cannot load
            raise voice_error("model", voice.model_path, f"fails its first synthesis: {one_line(exc)}") from exc
        LOGGER.info(
            "loaded %s voice %s on %s (%d threads%s%s, batching %s) in %.0f ms",
            "(quick start)" if quick_start else "and warmed",
            self.info.name,
            actual_device,
            self.threads,
            ", 2-D convolutions" if plan.conv2d else "",
            f", {self.solo_threads} when alone" if self.solo_threads else "",
            "on" if self.batching else "off",
            (time.perf_counter() - started) * 1000,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, threads: int | None = None, opening: SessionOpening | None = None
    ) -> Engine:
        """The configured voice on ``threads`` (default ``voice.threads``, else every core).

        With the cache off in these settings the voice is not identified (no content hash):
        its audio will not be cached, so nothing needs its identity. The voice's graph patch is
        kept in the cache's folder either way (see :mod:`swtts.workers.graph`). ``opening``:
        from :meth:`SessionOpening.for_settings` with the same settings and threads.
        """
        voice = settings.voice
        main, solo = settings_threads(settings, threads)
        return cls(
            opening.voice if opening is not None else voice.model or None,
            voice.device,
            main,
            voice.gpu_mem_limit_mb,
            voice.batching,
            solo,
            voice.quick_start,
            identify=settings.cache.enabled,
            graphs=graph_folder(settings),
            opening=opening,
        )

    def _open_sessions(
        self,
        voice: VoiceFile,
        config: PiperConfig,
        plan: SessionPlan,
        batching: str,
        opening: SessionOpening | None = None,
    ) -> None:
        """The voice's session(s) as planned (``opening``'s if it planned the same): batching depends on the device."""
        self.batching = use_batching(batching, plan.device)
        self.solo_threads = plan.solo_threads
        if opening is not None and opening.plan != plan:
            LOGGER.debug("the sessions opened early were planned otherwise (%s); opening the voice again", opening.plan)
        try:
            session, solo = opening.result() if opening is not None and opening.plan == plan else plan.open()
        except Exception as exc:  # onnxruntime's own errors are plain Exceptions, one class per status code
            raise voice_error("model", voice.model_path, f"rejected by onnxruntime: {one_line(exc)}") from exc
        self.voice = PiperVoice(config=config, session=session)
        self.solo_voice = PiperVoice(config=config, session=solo) if solo is not None else None

    def synthesize(self, text: str, params: SynthesisParams, solo: bool = False) -> Synthesized:
        """Speak one chunk, sentence by sentence, at an even loudness.

        ``solo`` runs it on the session with ``solo_threads`` (when this engine has one).
        """
        voice = self.solo_voice if solo and self.solo_voice is not None else self.voice
        started = time.perf_counter()
        scales = self._scales(params)
        sentences: list[Spoken] = []
        phonemes: list[str] = []
        for start, end in sentence_spans(text) or [(0, len(text))]:
            audio, spoken = self._speak(voice, text[start:end], scales, params.speaker)
            sentences.append(audio)
            phonemes.extend(spoken)
        return self._finish(sentences, phonemes, params, (time.perf_counter() - started) * 1000)

    def _speak(
        self, voice: PiperVoice, text: str, scales: tuple[float, float, float], speaker: int
    ) -> tuple[Spoken, list[str]]:
        """One sentence's audio, in forward passes of at most MAX_PASS_PHONEMES, and its phonemes
        per espeak sentence (as ``PiperVoice.synthesize`` would give them, without its unbounded passes)."""
        parts: list[Spoken] = []
        spoken: list[str] = []
        for sentence in voice.phonemize(text):
            if not sentence:
                continue
            pieces = [self._forward(voice, piece, scales, speaker) for piece in bounded_pieces(sentence)]
            parts.append(joined(pieces, self.info.sample_rate))
            spoken.append("".join(sentence))
        return concatenated(parts), spoken

    def _forward(
        self, voice: PiperVoice, phonemes: list[str], scales: tuple[float, float, float], speaker: int
    ) -> Spoken:
        """One pass: its audio, and each phoneme's span of it from the durations output."""
        ids = voice.phonemes_to_ids(phonemes)
        outputs = self._run(voice, [ids], scales, [speaker])
        samples_per_id = (
            (outputs[1].reshape(-1)[: len(ids)] * voice.config.hop_length).astype(np.int64)
            if len(outputs) > 1
            else None
        )
        clipped = np.clip(outputs[0].reshape(-1), -1.0, 1.0).astype(np.float32)
        return Spoken(clipped, pass_phones(phonemes, voice.config.phoneme_id_map, samples_per_id))

    def _run(
        self, voice: PiperVoice, rows: list[list[int]], scales: tuple[float, float, float], speakers: list[int]
    ) -> list[np.ndarray]:
        """One forward pass over padded rows of phoneme ids; the graph's outputs (audio first).

        It runs with this engine's run options, so :meth:`cancel` ends a pass in progress.
        """
        ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
        for position, row in enumerate(rows):
            ids[position, : len(row)] = row
        inputs: dict[str, np.ndarray] = {
            "input": ids,
            "input_lengths": np.array([len(row) for row in rows], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if self.info.num_speakers > 1:
            inputs["sid"] = np.array(speakers, dtype=np.int64)
        return list(voice.session.run(None, inputs, self._run_options))

    def cancel(self) -> None:
        """End the forward pass in progress, and refuse any later one: the engine is being dropped."""
        self._run_options.terminate = True

    def word_phonemes(self, text: str) -> list[str]:
        """How the voice reads ``text`` on its own (its phonemes, sentences joined by a space); remembered."""
        phonemes = self._word_phonemes.get(text)
        if phonemes is None:
            if len(self._word_phonemes) >= _WORDS_REMEMBERED:
                self._word_phonemes.clear()
            sentences = self.voice.phonemize(text)
            phonemes = self._word_phonemes[text] = [p for sentence in sentences for p in [*sentence, " "]][:-1]
        return phonemes

    def synthesize_batch(self, items: Sequence[tuple[str, SynthesisParams]], max_rows: int = 8) -> list[Synthesized]:
        """Speak several chunks with padded forward passes of up to ``max_rows`` sentences.

        Rows are sorted by phoneme count so padding stays small; each row's true audio
        length comes from the alignment output (phoneme durations x hop length) and the
        padded tail is cut off. Rows with different scales never share a pass (the graph
        takes one scales vector per batch).
        """
        if not self.batching:
            raise RuntimeError("this engine was built without batching (alignment output)")
        started = time.perf_counter()
        rows: list[_Row] = []
        phonemes: list[list[str]] = [[] for _ in items]
        for item, (text, params) in enumerate(items):
            for sentence, (start, end) in enumerate(sentence_spans(text) or [(0, len(text))]):
                for sentence_phonemes in self.voice.phonemize(text[start:end]):
                    if sentence_phonemes:
                        phrase = (item, sentence, len(phonemes[item]))
                        for piece, piece_phonemes in enumerate(bounded_pieces(sentence_phonemes)):
                            ids = self.voice.phonemes_to_ids(piece_phonemes)
                            rows.append(_Row(phrase, piece, piece_phonemes, ids, self._scales(params), params.speaker))
                        phonemes[item].append("".join(sentence_phonemes))
        pieces: dict[tuple[int, int, int], dict[int, Spoken]] = {}
        groups: dict[tuple[float, float, float], list[_Row]] = {}
        for row in rows:
            groups.setdefault(row.scales, []).append(row)
        self.last_batch_sizes = []
        for scales, group in groups.items():
            group.sort(key=lambda row: len(row.ids))
            for first in range(0, len(group), max(1, max_rows)):
                batch = group[first : first + max_rows]
                self.last_batch_sizes.append(len(batch))
                for row, samples in zip(batch, self._run_batch(batch, scales), strict=True):
                    pieces.setdefault(row.phrase, {})[row.piece] = samples
        elapsed_ms = (time.perf_counter() - started) * 1000
        rate = self.info.sample_rate
        phrases = {phrase: joined([audio[piece] for piece in sorted(audio)], rate) for phrase, audio in pieces.items()}
        results = []
        for item, (text, params) in enumerate(items):
            count = len(sentence_spans(text) or [(0, len(text))])
            sentences = [
                concatenated([audio for (i, s, _), audio in sorted(phrases.items()) if (i, s) == (item, sentence)])
                for sentence in range(count)
            ]
            results.append(self._finish(sentences, phonemes[item], params, elapsed_ms / len(items)))
        return results

    def _run_batch(self, batch: list[_Row], scales: tuple[float, float, float]) -> list[Spoken]:
        audio, durations = self._run(self.voice, [row.ids for row in batch], scales, [row.speaker for row in batch])[:2]
        hop = self.voice.config.hop_length
        id_map = self.voice.config.phoneme_id_map
        out = []
        for position, row in enumerate(batch):
            samples_per_id = (durations.reshape(len(batch), -1)[position, : len(row.ids)] * hop).astype(np.int64)
            samples = int(samples_per_id.sum())
            row_audio = audio.reshape(len(batch), -1)[position, :samples].astype(np.float32)
            out.append(Spoken(row_audio, pass_phones(row.phonemes, id_map, samples_per_id)))
        return out

    def _scales(self, params: SynthesisParams) -> tuple[float, float, float]:
        """(noise, length, noise_w) with the voice's defaults filled in, in graph order."""
        config = self.voice.config
        return (
            config.noise_scale if params.noise_scale is None else params.noise_scale,
            config.length_scale if params.length_scale is None else params.length_scale,
            config.noise_w_scale if params.noise_w is None else params.noise_w,
        )

    def _finish(
        self, sentences: list[Spoken], phonemes: list[str], params: SynthesisParams, synth_ms: float
    ) -> Synthesized:
        chunk = concatenated(sentences)
        audio = level_audio(chunk.audio, self.info.sample_rate, params.loudness_dbfs) * params.volume
        return Synthesized(
            pcm=np.clip(audio * 32767.0, -32767, 32767).astype("<i2").tobytes(),
            sample_rate=self.info.sample_rate,
            sentence_samples=[sentence.audio.size for sentence in sentences],
            phonemes=" ".join(phonemes),
            synth_ms=synth_ms,
            phones=chunk.phones,
        )


@dataclass(frozen=True)
class _Row:
    """One piece of an espeak sentence's phoneme ids in a batched forward pass.

    ``phrase`` is (chunk, sentence, espeak sentence); ``piece`` its place among that sentence's pieces.
    """

    phrase: tuple[int, int, int]
    piece: int
    phonemes: list[str]
    ids: list[int]
    scales: tuple[float, float, float]
    speaker: int


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (onnxruntime's can span many), cut to a readable length."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _piper_config(voice: VoiceFile) -> PiperConfig:
    """Piper's view of the checked config; what Piper alone rejects (a phoneme type) is still one line."""
    try:
        return PiperConfig.from_dict(voice.config)
    except (KeyError, TypeError, ValueError) as exc:
        raise voice_error("config", voice.config_path, f"Piper cannot use it: {one_line(exc)}") from None

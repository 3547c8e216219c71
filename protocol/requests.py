"""Messages of a synthesis request: the producer's parts and cancel, the broker's answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self

from swtts.config import MAX_CHUNK_CHARS
from swtts.protocol.errors import ErrorCode
from swtts.protocol.fields import MAX_ID_CHARS, MAX_INDEX, Fields, Record
from swtts.protocol.messages import Message, MsgType
from swtts.protocol.params import SynthesisParams
from swtts.protocol.status import MAX_COUNT, MAX_SECONDS

MIN_CHUNK_CHARS = 20
MAX_DEADLINE_S = 86_400.0
SAMPLE_WIDTH = 2  # bytes per sample: int16 little-endian
CHANNELS = 1


@dataclass(frozen=True)
class Submit(Message):
    """A document, or one part of a streamed one; a last part without text closes the stream.

    The request's options (voice, params, cache, chunk sizes, deadline, normalize) are read
    from part 0. ``normalize``: the workers read numbers, money, dates and abbreviations as
    words in the voice's language (the producer has already stripped the text's markup).
    """

    TYPE: ClassVar[MsgType] = MsgType.SUBMIT
    PAYLOAD: ClassVar[str | None] = "text"

    request_id: str
    text: str | None
    part: int = 0
    more: bool = False
    voice: str | None = None  # a voice name or a language; None: the broker's default
    params: SynthesisParams = field(default_factory=SynthesisParams)
    use_cache: bool = True
    max_chunk_chars: int | None = None
    first_chunk_chars: int | None = None
    deadline_s: float | None = None
    normalize: bool = True

    @classmethod
    def read(cls, fields: Fields) -> Self:
        request_id = fields.request_id()
        part = fields.integer("part", 0, MAX_INDEX, 0)
        options = fields.with_code(ErrorCode.BAD_PARAM)
        return cls(
            request_id=request_id,
            part=part,
            more=fields.flag("more", False),
            voice=options.optional_text("voice", allow_empty=False, max_chars=MAX_ID_CHARS),
            params=fields.record("params", SynthesisParams, SynthesisParams()),
            use_cache=options.flag("use_cache", True),
            max_chunk_chars=options.optional_integer("max_chunk_chars", MIN_CHUNK_CHARS, MAX_CHUNK_CHARS),
            first_chunk_chars=options.optional_integer("first_chunk_chars", MIN_CHUNK_CHARS, MAX_CHUNK_CHARS),
            deadline_s=options.optional_number("deadline_s", 0.0, MAX_DEADLINE_S, low_open=True),
            normalize=options.flag("normalize", True),
            text=fields.text_payload(required=part == 0),
        )


@dataclass(frozen=True)
class Cancel(Message):
    """Drop a request's queued chunks (barge-in); the broker answers with a ``cancelled`` error."""

    TYPE: ClassVar[MsgType] = MsgType.CANCEL

    request_id: str

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(fields.request_id())


@dataclass(frozen=True)
class Accepted(Message):
    """A part was queued; ``chunks`` counts the request's chunks so far."""

    TYPE: ClassVar[MsgType] = MsgType.ACCEPTED

    request_id: str
    part: int
    chunks: int

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(fields.request_id(), fields.integer("part", 0, MAX_INDEX), fields.integer("chunks", 0, MAX_INDEX))


class WordSpan(NamedTuple):
    """One word of a chunk and when it is spoken: ``text[text_start:text_end]`` of the chunk's text
    (as the producer sent it; the word without the punctuation around it) is heard in samples
    ``[start, end)`` of the chunk's PCM. Travels as a list of four integers."""

    text_start: int
    text_end: int
    start: int
    end: int


def check_words(fields: Fields, words: tuple[tuple[int, ...], ...], frames: int, text_chars: int | None) -> None:
    """Word timings must be in order, not overlap, and lie inside the chunk's audio (and text, when known)."""
    previous = WordSpan(0, 0, 0, 0)
    for number, (text_start, text_end, start, end) in enumerate(words):
        if not (previous.text_end <= text_start < text_end and previous.end <= start <= end <= frames):
            raise fields.error(
                "words",
                f"[{number}] must follow the word before it and lie within the chunk's {frames} samples, "
                f"got {[text_start, text_end, start, end]}",
            )
        if text_chars is not None and text_end > text_chars:
            raise fields.error("words", f"[{number}] ends past the chunk's {text_chars} characters of text")
        previous = WordSpan(text_start, text_end, start, end)


@dataclass(frozen=True)
class Speech(Message):
    """What AUDIO and RESULT both carry: a chunk (request id and index), its PCM with its format,
    the samples of each of its sentences, its phonemes and when each of its words is spoken."""

    PAYLOAD: ClassVar[str | None] = "pcm"

    request_id: str
    index: int
    pcm: bytes
    sample_rate: int
    sample_width: int = SAMPLE_WIDTH
    channels: int = CHANNELS
    sentence_samples: tuple[int, ...] = ()
    phonemes: str = ""
    words: tuple[WordSpan, ...] = ()

    @staticmethod
    def read_speech(fields: Fields, text_chars: int | None = None) -> dict[str, Any]:
        """The shared fields, validated, as keyword arguments for the subclass; ``text_chars``:
        the length of the chunk's text, when the message carries it."""
        request_id, index = fields.request_id(), fields.chunk_index()
        sample_width = fields.integer("sample_width", 1, 4)
        channels = fields.integer("channels", 1, 64)
        pcm = fields.pcm_payload(sample_width * channels)
        words = fields.integer_rows("words", 4, 0, MAX_COUNT, ())
        check_words(fields, words, len(pcm) // (sample_width * channels), text_chars)
        return {
            "request_id": request_id,
            "index": index,
            "pcm": pcm,
            "sample_rate": fields.integer("sample_rate", 1, 1_000_000),
            "sample_width": sample_width,
            "channels": channels,
            "sentence_samples": fields.integers("sentence_samples", 0, MAX_COUNT),
            "phonemes": fields.text("phonemes", allow_empty=True),
            "words": tuple(WordSpan(*word) for word in words),
        }


@dataclass(frozen=True)
class Audio(Speech):
    """One chunk's audio for the producer, in document order, with its text and timings.

    ``total`` is the request's chunk count once its text is complete (None while it streams in).
    """

    TYPE: ClassVar[MsgType] = MsgType.AUDIO

    text: str = ""
    paragraph_start: bool = False
    sentence_end: bool = True
    total: int | None = None
    cached: bool = False
    worker: str = ""
    queued_ms: float = 0.0
    synth_ms: float = 0.0

    @classmethod
    def read(cls, fields: Fields) -> Self:
        text = fields.text("text", allow_empty=True)
        return cls(
            **cls.read_speech(fields, len(text)),
            text=text,
            paragraph_start=fields.flag("paragraph_start"),
            sentence_end=fields.flag("sentence_end"),
            total=fields.optional_integer("total", 0, MAX_INDEX),
            cached=fields.flag("cached"),
            worker=fields.text("worker", allow_empty=True, max_chars=300),
            queued_ms=fields.number("queued_ms", 0.0, MAX_SECONDS),
            synth_ms=fields.number("synth_ms", 0.0, MAX_SECONDS),
        )


@dataclass(frozen=True)
class RequestTimings(Record):
    """Where a request's time went, as the broker measured it."""

    total_ms: float
    first_audio_ms: float
    queued_ms: float
    synth_ms: float
    cached_chunks: int
    workers: tuple[str, ...] = ()  # host:pid of every worker that spoke a chunk ("cache" for hits)

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            total_ms=fields.number("total_ms", 0.0, MAX_SECONDS),
            first_audio_ms=fields.number("first_audio_ms", 0.0, MAX_SECONDS),
            queued_ms=fields.number("queued_ms", 0.0, MAX_SECONDS),
            synth_ms=fields.number("synth_ms", 0.0, MAX_SECONDS),
            cached_chunks=fields.integer("cached_chunks", 0, MAX_INDEX),
            workers=fields.texts("workers"),
        )


@dataclass(frozen=True)
class Done(Message):
    """The request is complete: every chunk was sent."""

    TYPE: ClassVar[MsgType] = MsgType.DONE

    request_id: str
    chunks: int
    audio_s: float
    timings: RequestTimings

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            request_id=fields.request_id(),
            chunks=fields.integer("chunks", 0, MAX_INDEX),
            audio_s=fields.number("audio_s", 0.0, MAX_SECONDS),
            timings=fields.record("timings", RequestTimings),
        )


@dataclass(frozen=True)
class Error(Message):
    """A request (``request_id`` set) or a single message failed; ``code`` names the rule."""

    TYPE: ClassVar[MsgType] = MsgType.ERROR

    code: ErrorCode
    message: str
    request_id: str | None = None

    @classmethod
    def read(cls, fields: Fields) -> Self:
        return cls(
            code=fields.choice("code", ErrorCode),
            message=fields.text("message"),
            request_id=fields.optional_text("request_id", max_chars=MAX_ID_CHARS),
        )

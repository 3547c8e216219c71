"""Wire protocol: every message type round-trips, every malformed input is named, decode is fuzzed."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swtts.config import MAX_CHUNK_CHARS
from swtts.protocol import (
    PROTOCOL_VERSION,
    Accepted,
    Audio,
    BusyError,
    CacheClear,
    CacheClearReply,
    CacheStats,
    CacheStatsQuery,
    CacheStatsReply,
    Cancel,
    Disconnect,
    Done,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    InvalidRequestError,
    Message,
    MsgType,
    Ping,
    PingReply,
    ProtocolError,
    QueueStatus,
    Ready,
    RequestCancelledError,
    RequestTimeoutError,
    RequestTimings,
    Result,
    StatusQuery,
    StatusReply,
    Submit,
    SynthesisFailedError,
    SynthesisParams,
    Task,
    TTSError,
    UnavailableError,
    VoiceDescription,
    VoicesQuery,
    VoicesReply,
    WorkerState,
    WorkerStatus,
    check_text,
    decode,
    error_class,
    matching_voices,
    tts_error,
    voice_name,
)

# ----- strategies: any valid instance of every message type -----------------------------------

ids = st.text(min_size=1, max_size=40)
texts = st.text(max_size=60)
counts = st.integers(0, 10**6)
seconds = st.floats(0, 1e6, allow_nan=False)
pcm = st.integers(0, 40).map(lambda n: bytes(range(n * 2 % 256)) if n * 2 < 256 else bytes(n * 2))
params = st.builds(
    SynthesisParams,
    length_scale=st.none() | st.floats(0.05, 20),
    noise_scale=st.none() | st.floats(0, 5),
    noise_w=st.none() | st.floats(0, 5),
    speaker=st.integers(0, 1000),
    volume=st.floats(0, 10),
    loudness_dbfs=st.floats(-60, 0),
)
voices = st.builds(
    VoiceDescription,
    name=ids,
    language=texts.map(lambda t: t[:60]),
    espeak_voice=texts.map(lambda t: t[:60]),
    sample_rate=st.integers(1, 96000),
    num_speakers=st.integers(1, 900),
    speakers=st.dictionaries(st.text(max_size=8), st.integers(0, 900), max_size=3),
    workers=counts,
)
worker_status = st.builds(
    WorkerStatus,
    worker=ids,
    voice=texts,
    device=st.sampled_from(["cpu", "cuda:0"]),
    state=st.sampled_from(list(WorkerState)),
    in_flight=counts,
    capacity=counts,
    chunks_done=counts,
    solo_chunks=counts,
    connected_s=seconds,
    batch_sizes=st.dictionaries(st.integers(1, 8).map(str), counts, max_size=3),
    reason=st.none() | texts,
    died_s_ago=st.none() | seconds,
)
cache_stats = st.builds(
    CacheStats,
    hits=counts,
    misses=counts,
    hit_rate=st.floats(0, 1),
    entries=counts,
    bytes_stored=counts,
    raw_bytes=counts,
    compression_ratio=seconds,
    evictions=counts,
)
MESSAGES: dict[type[Message], st.SearchStrategy[Any]] = {
    Submit: st.builds(
        Submit,
        request_id=ids,
        text=st.none() | texts,
        part=st.integers(1, 100),
        more=st.booleans(),
        voice=st.none() | ids,
        params=params,
        use_cache=st.booleans(),
        max_chunk_chars=st.none() | st.integers(20, MAX_CHUNK_CHARS),
        first_chunk_chars=st.none() | st.integers(20, MAX_CHUNK_CHARS),
        deadline_s=st.none() | st.floats(0.001, 86_400),
        normalize=st.booleans(),
    ),
    Cancel: st.builds(Cancel, ids),
    Accepted: st.builds(Accepted, ids, counts, counts),
    Audio: st.builds(
        Audio,
        request_id=ids,
        index=counts,
        text=texts,
        pcm=pcm,
        sample_rate=st.integers(1, 96000),
        sentence_samples=st.lists(counts, max_size=4).map(tuple),
        paragraph_start=st.booleans(),
        sentence_end=st.booleans(),
        phonemes=texts,
        total=st.none() | counts,
        cached=st.booleans(),
        worker=texts,
        queued_ms=seconds,
        synth_ms=seconds,
    ),
    Done: st.builds(
        Done,
        ids,
        counts,
        seconds,
        st.builds(RequestTimings, seconds, seconds, seconds, seconds, counts, st.lists(texts, max_size=3).map(tuple)),
    ),
    Error: st.builds(Error, st.sampled_from(list(ErrorCode)), st.text(min_size=1), st.none() | ids),
    Ping: st.builds(Ping, texts),
    StatusQuery: st.builds(StatusQuery, texts),
    CacheStatsQuery: st.builds(CacheStatsQuery, texts),
    CacheClear: st.builds(CacheClear, texts),
    VoicesQuery: st.builds(VoicesQuery, texts),
    PingReply: st.builds(PingReply, texts, counts, counts, st.lists(ids, max_size=3).map(tuple)),
    StatusReply: st.builds(
        StatusReply,
        texts,
        seconds,
        st.lists(worker_status, max_size=3).map(tuple),
        st.builds(QueueStatus, counts, counts, counts),
        seconds,
        st.none() | cache_stats,
    ),
    CacheStatsReply: st.builds(CacheStatsReply, texts, st.none() | cache_stats),
    CacheClearReply: st.builds(CacheClearReply, texts, counts),
    VoicesReply: st.builds(VoicesReply, texts, st.lists(voices, max_size=3).map(tuple)),
    Ready: st.builds(
        Ready,
        voice=voices,
        voice_hash=ids,
        device=st.sampled_from(["cpu", "cuda:0"]),
        host=ids,
        pid=st.integers(0, 2**31),
        capacity=st.integers(1, 256),
        batching=st.booleans(),
        solo=st.booleans(),
        normalizer=st.sampled_from(["", "en/1", "fr/1"]),
    ),
    Task: st.builds(Task, ids, counts, texts, params, st.booleans(), st.booleans()),
    Result: st.builds(
        Result,
        request_id=ids,
        index=counts,
        pcm=pcm,
        sample_rate=st.integers(1, 96000),
        sentence_samples=st.lists(counts, max_size=4).map(tuple),
        phonemes=texts,
        synth_ms=seconds,
        batch=st.integers(1, 256),
        solo=st.booleans(),
    ),
    Failed: st.builds(Failed, ids, counts, st.text(min_size=1)),
    Heartbeat: st.just(Heartbeat()),
    Disconnect: st.just(Disconnect()),
}


def test_every_message_type_has_a_strategy() -> None:
    assert {kind.TYPE for kind in MESSAGES} == set(MsgType)


@settings(max_examples=400, deadline=None)
@given(st.one_of(*MESSAGES.values()))
def test_every_message_round_trips(message: Message) -> None:
    frames = message.encode()
    assert all(isinstance(frame, bytes) for frame in frames)
    assert decode(frames) == message


def test_chunk_identity_is_two_fields() -> None:
    header = json.loads(Task("doc:with:colons", 7, "Hello.").encode()[0])
    assert (header["request_id"], header["index"]) == ("doc:with:colons", 7)


def test_audio_carries_its_format() -> None:
    header = json.loads(Audio("r", 0, b"\x00\x00", 22050, text="Hi.").encode()[0])
    assert (header["sample_rate"], header["sample_width"], header["channels"]) == (22050, 2, 1)


# ----- malformed input ------------------------------------------------------------------------


def header(**fields: Any) -> bytes:
    return json.dumps({"v": PROTOCOL_VERSION, **fields}).encode()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([], ErrorCode.MALFORMED),
        ([b"{}", b"", b""], ErrorCode.MALFORMED),
        ([b"not json"], ErrorCode.MALFORMED),
        ([b"[1, 2]"], ErrorCode.MALFORMED),
        ([b"\xff\xfe"], ErrorCode.MALFORMED),
        ([json.dumps({"t": "ping"}).encode()], ErrorCode.VERSION),
        ([json.dumps({"v": 99, "t": "ping"}).encode()], ErrorCode.VERSION),
        ([json.dumps({"v": float(PROTOCOL_VERSION), "t": "ping"}).encode()], ErrorCode.VERSION),
        ([header(t="explode")], ErrorCode.UNKNOWN_TYPE),
        ([header(t=7)], ErrorCode.UNKNOWN_TYPE),
        ([f'{{"v": {PROTOCOL_VERSION}, "t": "ping", "x": NaN}}'.encode()], ErrorCode.MALFORMED),
        ([header(t="ping"), b"payload"], ErrorCode.MALFORMED),
        ([header(t="submit", request_id="r")], ErrorCode.MALFORMED),
        ([header(t="submit", request_id="r"), b"caf\xc3"], ErrorCode.BAD_UTF8),
        ([header(t="submit", request_id="r", voice=["a"]), b"Hi."], ErrorCode.BAD_PARAM),
        ([header(t="submit", request_id="r", deadline_s=0), b"Hi."], ErrorCode.BAD_PARAM),
        ([header(t="submit", request_id="r", max_chunk_chars=5), b"Hi."], ErrorCode.BAD_PARAM),
        (
            [header(t="submit", request_id="r", params={"length_scale": 1}).replace(b"1}", b"1e999}"), b"Hi."],
            ErrorCode.BAD_PARAM,
        ),
        ([header(t="submit", request_id="r", part=-1), b"Hi."], ErrorCode.MALFORMED),
        ([header(t="submit", request_id="r", more="yes"), b"Hi."], ErrorCode.MALFORMED),
        ([header(t="submit", request_id=""), b"Hi."], ErrorCode.MALFORMED),
        ([header(t="ready", capacity=1)], ErrorCode.MALFORMED),
        ([header(t="error", code="nonsense", message="x")], ErrorCode.MALFORMED),
    ],
)
def test_malformed_frames_are_named(frames: list[bytes], code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frames)
    assert caught.value.code is code
    assert "\n" not in caught.value.message


def test_a_bad_field_is_named_with_the_chunk_it_concerns() -> None:
    good = Result("doc", 3, b"\x00\x00", 22050).encode()
    bad = json.loads(good[0])
    bad["sentence_samples"] = ["many"]
    with pytest.raises(ProtocolError) as caught:
        decode([json.dumps(bad).encode(), good[1]])
    error = caught.value
    assert (error.field, error.request_id, error.index) == ("sentence_samples", "doc", 3)
    assert "sentence_samples" in error.message
    with pytest.raises(ProtocolError) as odd:
        decode([good[0], b"\x00" * 3])
    assert (odd.value.field, odd.value.request_id, odd.value.index) == ("pcm", "doc", 3)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_decode_never_raises_anything_but_protocol_error(frames: list[bytes]) -> None:
    with contextlib.suppress(ProtocolError):
        decode(frames)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(list(MESSAGES)),
    st.data(),
    st.lists(st.binary(max_size=20), max_size=1),
)
def test_every_type_with_garbled_fields_fails_only_with_protocol_error(
    kind: type[Message], data: st.DataObject, payload: list[bytes]
) -> None:
    """Start from a valid header of each type and replace, drop or add fields."""
    valid = json.loads(data.draw(MESSAGES[kind]).encode()[0])
    names = [*valid, "extra"]
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        if data.draw(st.booleans()):
            valid.pop(name, None)
        else:
            valid[name] = data.draw(_json)
    with contextlib.suppress(ProtocolError):
        decode([json.dumps(valid).encode(), *payload])


# ----- parameters and text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"length_scale": -1}, "length_scale"),
        ({"noise_scale": math.nan}, "noise_scale"),
        ({"noise_w": "loud"}, "noise_w"),
        ({"speaker": -2}, "speaker"),
        ({"speaker": 1.5}, "speaker"),
        ({"pitch": 3}, "pitch"),
        ([1, 2], "object"),
    ],
)
def test_bad_params_are_named(params: object, fragment: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        SynthesisParams.from_wire(params)
    assert caught.value.code is ErrorCode.BAD_PARAM
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ErrorCode.EMPTY_TEXT),
        ("   \n\t ", ErrorCode.EMPTY_TEXT),
        ("nul\x00here", ErrorCode.CONTROL_CHARS),
        ("bell\x07", ErrorCode.CONTROL_CHARS),
        ("x" * 101, ErrorCode.TOO_LONG),
    ],
)
def test_bad_text_is_named(text: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        check_text(text, max_chars=100)
    assert caught.value.code is code


def test_text_with_tabs_newlines_and_accents_is_fine() -> None:
    text = "Ligne un.\n\tDeuxième « ligne » !\r\n"
    assert check_text(text, 1000) == text


# ----- errors and voices ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (ErrorCode.BUSY, BusyError),
        (ErrorCode.UNAVAILABLE, UnavailableError),
        (ErrorCode.TIMEOUT, RequestTimeoutError),
        (ErrorCode.CANCELLED, RequestCancelledError),
        (ErrorCode.SYNTHESIS_FAILED, SynthesisFailedError),
        (ErrorCode.WORKER_LOST, SynthesisFailedError),
        (ErrorCode.UNKNOWN_VOICE, InvalidRequestError),
        (ErrorCode.BAD_PARAM, InvalidRequestError),
        (ErrorCode.INTERNAL, TTSError),
    ],
)
def test_each_code_maps_to_its_error_class(code: ErrorCode, kind: type[TTSError]) -> None:
    error = tts_error(code, "it went\nwrong")
    assert type(error) is kind and error_class(code) is kind
    assert error.code is code and error.code == code.value
    assert str(error) == f"it went wrong [{code.value}]"
    assert isinstance(error, TTSError)


def test_every_code_has_a_class() -> None:
    assert all(issubclass(error_class(code), TTSError) for code in ErrorCode)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("", "en_US-joe-medium"),
        (None, "en_US-joe-medium"),
        ("/voices/fr_FR-siwis-medium.onnx", "fr_FR-siwis-medium"),
        ("~/v/de_DE-thorsten-low", "de_DE-thorsten-low"),
    ],
)
def test_the_default_voice_is_named_from_the_setting_alone(model: str | None, name: str) -> None:
    assert voice_name(model) == name


JOE = VoiceDescription("en_US-joe-medium", "en_US", "en-us", 22050)
SIWIS = VoiceDescription("fr_FR-siwis-medium", "fr_FR", "fr", 22050)
LESSAC = VoiceDescription("en_US-lessac-high", "en_US", "en-us", 22050)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fr_FR-siwis-medium", [SIWIS]),
        ("FR_fr-SIWIS-medium", [SIWIS]),
        ("fr", [SIWIS]),
        ("fr_FR", [SIWIS]),
        ("fr-fr", [SIWIS]),
        ("en-us", [JOE, LESSAC]),
        ("EN", [JOE, LESSAC]),
        ("en_US-lessac-high", [LESSAC]),
        ("de", []),
        ("en_GB", []),
    ],
)
def test_a_request_names_a_voice_or_a_language(query: str, expected: list[VoiceDescription]) -> None:
    assert matching_voices(query, [JOE, SIWIS, LESSAC]) == expected

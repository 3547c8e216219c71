"""Wire protocol: round trips, every malformed input named, hypothesis fuzzing of decode."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swtts.protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    MsgType,
    ProtocolError,
    SynthesisParams,
    check_text,
    decode,
    decode_text,
    encode,
)


def test_round_trip_with_payload() -> None:
    frames = encode(MsgType.AUDIO, {"id": "r1", "index": 3}, b"\x01\x02")
    message = decode(frames)
    assert message.type is MsgType.AUDIO
    assert message.fields == {"id": "r1", "index": 3}
    assert message.payload == b"\x01\x02"


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
        ([json.dumps({"v": PROTOCOL_VERSION, "t": "explode"}).encode()], ErrorCode.UNKNOWN_TYPE),
        ([b'{"v": 1, "t": "ping", "x": NaN}'], ErrorCode.MALFORMED),
    ],
)
def test_malformed_frames_are_named(frames: list[bytes], code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frames)
    assert caught.value.code is code


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_decode_never_raises_anything_but_protocol_error(frames: list[bytes]) -> None:
    try:
        decode(frames)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
        max_size=5,
    )
)
def test_fuzzed_headers_decode_or_fail_cleanly(fields: dict) -> None:
    raw = json.dumps({"v": PROTOCOL_VERSION, "t": "submit", **fields}).encode()
    try:
        decode([raw])
    except ProtocolError:
        pass


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


def test_good_params_round_trip() -> None:
    params = SynthesisParams(length_scale=1.2, noise_scale=0.0, speaker=0, volume=0.8)
    assert SynthesisParams.from_wire(params.to_wire()) == params


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", ErrorCode.EMPTY_TEXT),
        (b"   \n\t ", ErrorCode.EMPTY_TEXT),
        (b"caf\xc3", ErrorCode.BAD_UTF8),
        (b"nul\x00here", ErrorCode.CONTROL_CHARS),
        (b"bell\x07", ErrorCode.CONTROL_CHARS),
        (b"x" * 101, ErrorCode.TOO_LONG),
        (None, ErrorCode.MALFORMED),
    ],
)
def test_bad_text_is_named(payload: bytes | None, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_text(payload, max_chars=100)
    assert caught.value.code is code


def test_text_with_tabs_newlines_and_accents_is_fine() -> None:
    text = "Ligne un.\n\tDeuxième « ligne » !\r\n"
    assert check_text(text, 1000) == text

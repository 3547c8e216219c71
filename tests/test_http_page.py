"""The try-it page in a real headless Chromium (Debian's package, driven by Playwright).

Chromium is installed with apt-get when it is missing and we are root (as on CI's clean
machine); otherwise the test is skipped with the reason. The browser runs with the network
quiet (no background services) and autoplay allowed, in a fresh profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTICLE
from tests.test_http import HttpProcess, metric, serve_http
from tests.test_http_units import decoded_seconds

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SENTENCE = "Hello from the browser.\n\nThis second paragraph plays while it streams."


def ensure_chromium() -> Path:
    """Debian's chromium, installed now if missing and we may; else skip with the reason."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed (/usr/bin/chromium) and apt-get as root is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"could not install chromium: {' '.join(command)}: {done.stderr.strip()[-300:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpProcess]:
    folder = tmp_path_factory.mktemp("page")
    running = serve_http(folder, workers=1, config=f'[cache]\ndir = "{folder / "cache"}"\n')  # the download hits it
    yield running
    running.stop()


@pytest.fixture
def page(page_server: HttpProcess) -> Iterator[Any]:
    """The page loaded in a fresh headless Chromium, its voices listed; page errors fail the test."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="swtts-chromium-") as profile,
    ):
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(executable), args=FLAGS, headless=True, accept_downloads=True
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_server.url + "/")
            page.wait_for_function("document.querySelector('#voice option[value=\"en_US-joe-medium\"]') !== null")
            yield page
            assert not errors
        finally:
            browser.close()


def test_the_page_speaks_plays_and_offers_a_download(page: Any, tmp_path: Path) -> None:
    page.fill("#text", SENTENCE)
    page.select_option("#format", "mp3")
    page.click("#speak")
    page.wait_for_function("['ended', 'error'].includes(window.swtts.phase)", timeout=120_000)
    page.wait_for_function("window.swtts.playbackDone || window.swtts.error", timeout=60_000)
    state = page.evaluate("window.swtts")
    assert state["error"] is None, state
    assert state["chunks"] == state["total"] >= 1
    assert state["receivedSeconds"] > 2.0
    assert state["playedSeconds"] == pytest.approx(state["receivedSeconds"], abs=0.05)
    page.wait_for_function("window.swtts.download !== null", timeout=60_000)
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "speech.mp3"
    assert abs(decoded_seconds(saved.read_bytes(), "mp3") - state["receivedSeconds"]) < 0.2


def test_the_page_highlights_each_word_while_it_is_heard(page: Any) -> None:
    page.fill("#text", SENTENCE)
    page.click("#speak")
    page.wait_for_function("window.swtts.highlights.length > 2", timeout=120_000)
    assert page.inner_text("#reader mark") in SENTENCE  # a word is marked while the audio plays
    page.wait_for_function("window.swtts.playbackDone || window.swtts.error", timeout=120_000)
    state = page.evaluate("window.swtts")
    words, seen = state["words"], state["highlights"]
    assert [SENTENCE[w["source"][0] : w["source"][1]] for w in words] == [w["word"] for w in words]
    indices = [h["index"] for h in seen]
    assert indices == sorted(set(indices)) and indices[-1] == len(words) - 1
    assert len(indices) >= 0.8 * len(words)  # a frame may skip a very short word on a busy machine
    for highlight in seen:  # each was marked while it was being heard (a frame's lateness allowed)
        word = words[highlight["index"]]
        assert word["start"] <= highlight["at"] <= word["end"] + 0.25, (word, highlight)
    assert page.inner_text("#reader mark") == words[-1]["word"]


def test_an_article_plays_while_it_streams_and_stop_cancels_it(page: Any, page_server: HttpProcess) -> None:
    cancelled = metric(page_server.url, "swtts_requests_total", outcome="cancelled")
    page.fill("#text", ARTICLE)
    page.click("#speak")
    page.wait_for_function("window.swtts.playedSeconds > 1", timeout=120_000)
    state = page.evaluate("window.swtts")
    assert state["phase"] == "speaking" and state["chunks"] < state["total"], state  # playing before the end
    page.click("#stop")
    assert page.evaluate("window.swtts.phase") == "stopped"
    deadline = time.monotonic() + 15
    while metric(page_server.url, "swtts_requests_total", outcome="cancelled") != cancelled + 1:
        assert time.monotonic() < deadline, "the article was not cancelled at the broker"
        time.sleep(0.1)


def test_the_api_docs_render_without_leaving_the_server(page: Any, page_server: HttpProcess) -> None:
    outside: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(page_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(page_server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=60_000)  # Swagger UI drew the operations
    assert "/v1/audio/speech" in page.content()
    assert not outside

"""The cache through real processes: restarts, edits, CLI stats/clear and --no-cache."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from swtts.client import SynthesisOptions
from swtts.config import Settings, load_settings
from swtts.service import EmbeddedService
from tests.helpers import ARTICLE, run_swtts, write_config

pytestmark = pytest.mark.e2e

FAST = SynthesisOptions(length_scale=0.4, noise_scale=0.0, noise_w=0.0)


def test_hits_survive_a_restart_and_an_edit_resynthesizes_only_its_chunks(tmp_path: Path) -> None:
    settings = load_settings().override(cache__dir=str(tmp_path / "cache"))
    with EmbeddedService(settings, workers=2) as service, service.client() as client:
        first = client.synthesize(ARTICLE, FAST)
        assert first.timings["cached_chunks"] == 0
    with EmbeddedService(settings, workers=1) as service, service.client() as client:
        again = client.synthesize(ARTICLE, FAST)
        assert again.timings["cached_chunks"] == len(again.chunks) == len(first.chunks)
        assert again.audio.tobytes() == first.audio.tobytes()
        paragraphs = ARTICLE.split("\n\n")
        paragraphs[2] = paragraphs[2].replace("Alexandria", "ancient Alexandria", 1)
        edited = client.synthesize("\n\n".join(paragraphs), FAST)
        changed = [c.index for c in edited.chunks if not c.cached]
        assert 1 <= len(changed) <= 2, changed
        assert "ancient Alexandria" in " ".join(edited.chunks[i].text for i in changed)
        bypass = client.synthesize(ARTICLE.split("\n\n")[1], replace(FAST, use_cache=False))
        assert not any(c.cached for c in bypass.chunks)


def test_cache_cli_stats_and_clear(tmp_path: Path, settings: Settings) -> None:
    config = write_config(tmp_path / "config.toml", cache={"dir": str(tmp_path / "cache")})

    def swtts(*args: str) -> subprocess.CompletedProcess[str]:
        return run_swtts(*args, "--config", str(config), timeout=180)

    assert swtts("say", "Cache me.", "-o", str(tmp_path / "a.wav"), "--workers", "1").returncode == 0
    assert swtts("say", "Cache me.", "-o", str(tmp_path / "b.wav"), "--workers", "1").returncode == 0
    stats = json.loads(swtts("cache", "stats").stdout)
    assert stats["entries"] == 2 and stats["hits"] >= 1 and stats["compression_ratio"] > 1.0
    nocache = swtts("say", "Cache me.", "-o", str(tmp_path / "c.wav"), "--workers", "1", "--no-cache")
    assert nocache.returncode == 0 and "from cache" not in nocache.stderr
    cleared = swtts("cache", "clear")
    assert cleared.returncode == 0 and "removed 2 entries" in cleared.stdout
    assert json.loads(swtts("cache", "stats").stdout)["entries"] == 0

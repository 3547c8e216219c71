"""onnxruntime session setup: thread and arena options, CUDA provider options, honest CPU fallbacks."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import onnxruntime
import pytest

import swtts.workers.session as session_module
from swtts.workers.session import SessionOpening, SessionPlan, session_options, session_providers, use_batching
from swtts.workers.voice_files import VoiceLoadError


def test_session_options_run_sequentially_on_the_given_threads() -> None:
    options = session_options(3)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    with pytest.raises(RuntimeError, match="does not have configuration"):
        options.get_session_config_entry("session.use_env_allocators")


def test_shared_arena_sessions_use_the_process_allocator() -> None:
    assert session_options(2, shared_arena=True).get_session_config_entry("session.use_env_allocators") == "1"


def test_cuda_provider_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "cuda_available", lambda: True)
    providers, device = session_providers("cuda:1", 512)
    assert device == "cuda:1"
    assert providers == [
        (
            "CUDAExecutionProvider",
            {
                "device_id": 1,
                "cudnn_conv_algo_search": "HEURISTIC",
                "arena_extend_strategy": "kSameAsRequested",
                "do_copy_in_default_stream": True,
                "gpu_mem_limit": 512 * 2**20,
            },
        ),
        "CPUExecutionProvider",
    ]
    providers, device = session_providers("cuda", 0)
    assert device == "cuda:0"
    assert providers[0][1]["device_id"] == 0 and "gpu_mem_limit" not in providers[0][1]


def test_cpu_and_unknown_devices() -> None:
    assert session_providers("cpu", 0) == (["CPUExecutionProvider"], "cpu")
    with pytest.raises(VoiceLoadError, match="unknown device 'tpu'; use 'cpu' or 'cuda:N'"):
        session_providers("tpu", 0)


@pytest.mark.parametrize(
    ("mode", "device", "batches"),
    [("auto", "cpu", False), ("auto", "cuda:0", True), ("on", "cpu", True), ("off", "cuda:0", False)],
)
def test_batching_modes(mode: str, device: str, batches: bool) -> None:
    assert use_batching(mode, device) is batches


def test_unknown_batching_mode_is_named() -> None:
    with pytest.raises(VoiceLoadError, match=re.escape("voice.batching must be auto, on or off, got 'sometimes'")):
        use_batching("sometimes", "cpu")


def test_gpu_package_overwritten_by_the_cpu_one_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        return real("onnxruntime") if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr(session_module, "cuda_available", lambda: False)
    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with caplog.at_level("WARNING"):
        providers, device = session_providers("cuda:0", 0)
    assert (providers, device) == (["CPUExecutionProvider"], "cpu")
    assert "pip install --force-reinstall --no-deps onnxruntime-gpu" in caplog.text


def test_cuda_library_preload_never_prints_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Audio may be going to standard output (``-o -``): onnxruntime's preload messages are logged."""
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda: print("Failed to load libcublasLt.so.13"), raising=False)
    session_module.cuda_available.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert session_module.cuda_available()
    finally:
        session_module.cuda_available.cache_clear()
    assert capsys.readouterr().out == ""
    assert "libcublasLt.so.13" in caplog.text


def test_the_plan_decides_the_solo_session_and_optimizations_once() -> None:
    from tests.conftest import REAL_MODEL

    plan = SessionPlan.decide(REAL_MODEL, "cpu", threads=1, solo_threads=2)
    assert (plan.solo_threads, plan.optimize, plan.device) == (2, True, "cpu")
    quick = SessionPlan.decide(REAL_MODEL, "cpu", threads=1, solo_threads=2, quick_start=True)
    assert (quick.solo_threads, quick.optimize) == (0, False)  # one short job: neither pays off
    assert SessionPlan.decide(REAL_MODEL, "cpu", threads=2, solo_threads=2).solo_threads == 0  # no more threads


@pytest.mark.e2e
def test_an_engine_takes_the_sessions_opened_early_for_its_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from swtts.config import load_settings
    from swtts.workers.engine import Engine

    settings = load_settings(None).override(voice__quick_start=True, cache__enabled=False)
    opening = SessionOpening.for_settings(settings, threads=1)
    assert opening is not None
    early = opening.result()[0]
    opened: list[SessionPlan] = []

    def open_sessions(plan: SessionPlan) -> tuple[onnxruntime.InferenceSession, None]:
        opened.append(plan)
        return early, None

    monkeypatch.setattr(SessionPlan, "open", open_sessions)
    assert Engine.from_settings(settings, 1, opening).voice.session is early
    assert opened == []  # taken, not opened again
    Engine.from_settings(settings, 2, opening)  # planned otherwise (two threads): opened anew
    assert [plan.threads for plan in opened] == [2]


def test_no_early_opening_off_the_cpu_or_for_a_broken_voice(tmp_path: Path) -> None:
    from swtts.config import load_settings

    settings = load_settings(None)
    assert SessionOpening.for_settings(settings.override(voice__device="cuda")) is None
    assert SessionOpening.for_settings(settings.override(voice__model=str(tmp_path / "missing.onnx"))) is None

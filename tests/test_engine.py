"""The engine with the real voice: loudness, sentence lengths, batching equal to one at a time."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import onnxruntime
import pytest

import swtts.workers.engine as engine_module
from swtts.protocol import SynthesisParams
from swtts.workers.engine import Engine, VoiceLoadError, level_audio, resolve_model, session_providers

DETERMINISTIC = SynthesisParams(noise_scale=0.0, noise_w=0.0)


@pytest.fixture(scope="module")
def batching_engine() -> Engine:
    return Engine(batching="on")


def test_batched_output_equals_one_at_a_time(batching_engine: Engine) -> None:
    texts = [
        "Hello world.",
        "This is a considerably longer sentence with many more phonemes in it. And a second one.",
        "Medium length sentence here.",
        "Short.",
    ]
    batched = batching_engine.synthesize_batch([(t, DETERMINISTIC) for t in texts], max_rows=8)
    assert batching_engine.last_batch_sizes == [5]
    for text, result in zip(texts, batched):
        single = batching_engine.synthesize(text, DETERMINISTIC)
        assert result.sentence_samples == single.sentence_samples
        a = np.frombuffer(result.pcm, "<i2").astype(np.int32)
        b = np.frombuffer(single.pcm, "<i2").astype(np.int32)
        assert a.size == b.size
        body = slice(0, a.size - 2048)
        assert np.abs(a[body] - b[body]).max() <= 64, text


def test_batches_respect_max_rows_and_split_by_scales(batching_engine: Engine) -> None:
    slow = SynthesisParams(length_scale=1.5, noise_scale=0.0, noise_w=0.0)
    items = [(f"Sentence number {i}.", DETERMINISTIC) for i in range(5)] + [("A slower one.", slow)]
    results = batching_engine.synthesize_batch(items, max_rows=2)
    assert sorted(batching_engine.last_batch_sizes) == [1, 1, 2, 2]
    assert len(results) == 6 and all(r.pcm for r in results)


def test_level_audio_hits_target_and_never_clips() -> None:
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(22050) * 0.01).astype(np.float32)
    leveled = level_audio(quiet, 22050, -20.0)
    assert abs(20 * np.log10(np.sqrt(np.mean(leveled**2))) + 20.0) < 1.0
    spiky = quiet.copy()
    spiky[100] = 0.9
    assert np.abs(level_audio(spiky, 22050, -6.0)).max() <= 0.99 + 1e-6
    assert level_audio(np.zeros(100, np.float32), 22050, -20.0).max() == 0.0


def test_missing_voice_files_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VoiceLoadError, match="voice model not found"):
        resolve_model(tmp_path / "nope.onnx")
    (tmp_path / "lonely.onnx").write_bytes(b"x")
    with pytest.raises(VoiceLoadError, match="voice config not found"):
        resolve_model(tmp_path / "lonely.onnx")
    with pytest.raises(VoiceLoadError, match="unknown device"):
        Engine(device="tpu")


def test_cuda_request_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from swtts.workers.engine import cuda_available

    if cuda_available():
        pytest.skip("this machine has CUDA; the fallback path is for CPU-only machines")
    with caplog.at_level("WARNING"):
        engine = Engine(device="cuda:0")
    assert engine.info.device == "cpu"
    assert "no CUDA provider" in caplog.text
    assert engine.synthesize("Fallback works.", DETERMINISTIC).pcm


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_cuda_provider_that_cannot_start_leaves_an_honest_cpu_engine(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime-gpu without a driver (or CUDA libraries) quietly runs the session on the CPU;
    the engine must then say cpu, drop CUDA-only batching and get its CPU solo session."""
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider; the failure is simulated on CPU-only builds")
    monkeypatch.setattr(engine_module, "cuda_available", lambda: True)
    with caplog.at_level("WARNING"):
        engine = Engine(device="cuda:0", batching="auto", threads=1, solo_threads=2)
    assert "could not start its CUDA provider" in caplog.text
    assert engine.info.device == "cpu"
    assert engine.voice.session.get_providers() == ["CPUExecutionProvider"]
    assert not engine.batching and engine.solo_voice is not None
    assert engine.synthesize("Still speaking.", DETERMINISTIC).pcm


def test_gpu_package_overwritten_by_the_cpu_one_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        return real("onnxruntime") if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr(engine_module, "cuda_available", lambda: False)
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
    engine_module.cuda_available.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert engine_module.cuda_available()
    finally:
        engine_module.cuda_available.cache_clear()
    assert capsys.readouterr().out == ""
    assert "libcublasLt.so.13" in caplog.text


def test_solo_session_speaks_the_same_audio_on_more_threads() -> None:
    engine = Engine(threads=1, solo_threads=2)
    assert engine.solo_voice is not None and engine.solo_voice.session is not engine.voice.session
    assert engine.solo_voice.session.get_session_options().intra_op_num_threads == 2
    text = "Two sessions, one voice. The answer must not depend on the thread count."
    shared = engine.synthesize(text, DETERMINISTIC)
    solo = engine.synthesize(text, DETERMINISTIC, solo=True)
    assert solo.sentence_samples == shared.sentence_samples
    a = np.frombuffer(shared.pcm, "<i2").astype(np.int32)
    b = np.frombuffer(solo.pcm, "<i2").astype(np.int32)
    assert np.abs(a - b).max() <= 64


def test_no_solo_session_unless_it_has_more_threads_and_runs_on_cpu() -> None:
    assert Engine(threads=2, solo_threads=2).solo_voice is None
    single = Engine(threads=1)
    assert single.solo_threads == 0 and single.solo_voice is None
    assert single.synthesize("Solo falls back to the one session.", DETERMINISTIC, solo=True).pcm

"""The engine with the real voice: batching equal to one at a time, the solo session, CUDA fallbacks,
and a voice onnxruntime rejects named in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

import swtts.workers.session as session_module
from swtts.protocol import SynthesisParams
from swtts.workers.engine import Engine
from swtts.workers.voice_files import VoiceLoadError
from tests.broken_voices import (
    REJECTED_BY_ONNXRUNTIME,
    real_config,
    write_rejected_voice,
    write_voice,
    write_voice_that_cannot_speak,
)

DETERMINISTIC = SynthesisParams(noise_scale=0.0, noise_w=0.0)


@pytest.fixture(scope="module")
def batching_engine() -> Engine:
    return Engine(batching="on")


@pytest.mark.e2e
def test_batched_output_equals_one_at_a_time(batching_engine: Engine) -> None:
    texts = [
        "Hello world.",
        "This is a considerably longer sentence with many more phonemes in it. And a second one.",
        "Medium length sentence here.",
        "Short.",
    ]
    batched = batching_engine.synthesize_batch([(t, DETERMINISTIC) for t in texts], max_rows=8)
    assert batching_engine.last_batch_sizes == [5]
    for text, result in zip(texts, batched, strict=True):
        single = batching_engine.synthesize(text, DETERMINISTIC)
        assert result.sentence_samples == single.sentence_samples
        a = np.frombuffer(result.pcm, "<i2").astype(np.int32)
        b = np.frombuffer(single.pcm, "<i2").astype(np.int32)
        assert a.size == b.size
        body = slice(0, a.size - 2048)
        assert np.abs(a[body] - b[body]).max() <= 64, text


@pytest.mark.e2e
def test_batches_respect_max_rows_and_split_by_scales(batching_engine: Engine) -> None:
    slow = SynthesisParams(length_scale=1.5, noise_scale=0.0, noise_w=0.0)
    items = [(f"Sentence number {i}.", DETERMINISTIC) for i in range(5)] + [("A slower one.", slow)]
    results = batching_engine.synthesize_batch(items, max_rows=2)
    assert sorted(batching_engine.last_batch_sizes) == [1, 1, 2, 2]
    assert len(results) == 6 and all(r.pcm for r in results)


def test_unknown_device_is_named() -> None:
    with pytest.raises(VoiceLoadError, match="unknown device 'tpu'"):
        Engine(device="tpu")


@pytest.mark.e2e
def test_cuda_request_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from swtts.workers.session import cuda_available

    if cuda_available():
        pytest.skip("this machine has CUDA; the fallback path is for CPU-only machines")
    with caplog.at_level("WARNING"):
        engine = Engine(device="cuda:0")
    assert engine.info.device == "cpu"
    assert "no CUDA provider" in caplog.text
    assert engine.synthesize("Fallback works.", DETERMINISTIC).pcm


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_cuda_provider_that_cannot_start_leaves_an_honest_cpu_engine(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime-gpu without a driver (or CUDA libraries) quietly runs the session on the CPU;
    the engine must then say cpu, drop CUDA-only batching and get its CPU solo session."""
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider; the failure is simulated on CPU-only builds")
    monkeypatch.setattr(session_module, "cuda_available", lambda: True)
    with caplog.at_level("WARNING"):
        engine = Engine(device="cuda:0", batching="auto", threads=1, solo_threads=2)
    assert "could not start its CUDA provider" in caplog.text
    assert engine.info.device == "cpu"
    assert engine.voice.session.get_providers() == ["CPUExecutionProvider"]
    assert not engine.batching and engine.solo_voice is not None
    assert engine.synthesize("Still speaking.", DETERMINISTIC).pcm


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_no_solo_session_unless_it_has_more_threads_and_runs_on_cpu() -> None:
    assert Engine(threads=2, solo_threads=2).solo_voice is None
    single = Engine(threads=1)
    assert single.solo_threads == 0 and single.solo_voice is None
    assert single.synthesize("Solo falls back to the one session.", DETERMINISTIC, solo=True).pcm


@pytest.mark.parametrize(
    ("write", "problem", "detail"),
    [
        (write_rejected_voice, REJECTED_BY_ONNXRUNTIME, "NoSuchPiperOp"),
        (write_voice_that_cannot_speak, "fails its first synthesis", "Reshape"),
    ],
)
def test_a_model_onnxruntime_cannot_use_is_one_line_naming_it(
    write: Callable[[Path], Path], problem: str, detail: str, tmp_path: Path
) -> None:
    """Both pass the cheap check; onnxruntime refuses the graph, or loads it and fails the warm-up."""
    model = write(tmp_path)
    with pytest.raises(VoiceLoadError) as error:
        Engine(model)
    message = str(error.value)
    assert message.startswith(f"voice model {model}: {problem}: ")
    assert detail in message and "\n" not in message


def test_a_config_piper_rejects_is_named(tmp_path: Path) -> None:
    config = {**real_config(), "phoneme_type": "klingon"}
    model = write_voice(tmp_path, None, json.dumps(config))
    with pytest.raises(VoiceLoadError, match=r"voice config .*voice\.onnx\.json: Piper cannot use it: 'klingon'"):
        Engine(model)

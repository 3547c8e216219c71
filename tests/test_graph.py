"""The voice's graph: its duration output added, its large weights read in place from the voice
file, built once per voice file and then read back without onnx."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from swtts.workers.graph import VoiceGraph, build_graph, voice_graph
from swtts.workers.session import open_session
from tests.conftest import REAL_MODEL

CPU = ["CPUExecutionProvider"]


def outputs(graph: VoiceGraph) -> list[str]:
    assert graph.model is not None
    return [output.name for output in onnx.load_from_string(graph.model).graph.output]


def speak(session: onnxruntime.InferenceSession) -> list[np.ndarray]:
    """A few phonemes, noise off: the same graph and weights give the same samples."""
    ids = np.array([[1, 0, 20, 0, 30, 0, 40, 0, 50, 0, 2]], dtype=np.int64)
    feeds = {"input": ids, "input_lengths": np.array([ids.shape[1]]), "scales": np.array([0, 1, 0], np.float32)}
    return list(session.run(None, feeds))


def test_the_graph_adds_the_duration_output_and_leaves_the_weights_in_the_file() -> None:
    graph = build_graph(REAL_MODEL)
    assert outputs(graph) == ["output", "/Ceil_output_0"]
    assert graph.model is not None and len(graph.model) < 2**20  # the structure only
    assert sum(weight.end - weight.start for weight in graph.weights) > 0.9 * REAL_MODEL.stat().st_size
    raw = REAL_MODEL.read_bytes()
    tensors = {tensor.name: tensor for tensor in onnx.load_from_string(raw).graph.initializer}
    for weight in graph.weights:
        assert raw[weight.start : weight.end] == tensors[weight.name].raw_data


def test_a_session_on_the_mapped_weights_speaks_as_the_voice_file_does() -> None:
    mapped = speak(open_session(build_graph(REAL_MODEL), 1, CPU))
    whole = speak(onnxruntime.InferenceSession(str(REAL_MODEL), providers=CPU))
    assert np.array_equal(mapped[0], whole[0])
    assert mapped[1].sum() > 0 and len(whole) == 1  # the durations: only the edited graph has them


def test_the_graph_is_kept_and_read_back_without_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = voice_graph(REAL_MODEL, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    monkeypatch.setitem(sys.modules, "onnx", None)  # importing it now fails: the kept graph must be used
    assert voice_graph(REAL_MODEL, tmp_path) == first


def test_a_damaged_kept_graph_is_built_again(tmp_path: Path) -> None:
    first = voice_graph(REAL_MODEL, tmp_path)
    (kept,) = tmp_path.iterdir()
    kept.write_bytes(b'{"format": 1}\n')  # no index of weights
    assert voice_graph(REAL_MODEL, tmp_path) == first


def test_another_file_gets_its_own_graph_and_stale_ones_go(tmp_path: Path) -> None:
    folder = tmp_path / "graphs"
    copy = tmp_path / "voice.onnx"
    shutil.copyfile(REAL_MODEL, copy)
    voice_graph(REAL_MODEL, folder)
    voice_graph(copy, folder)
    assert len(list(folder.iterdir())) == 2
    (folder / "voice-0123.suffix").write_bytes(b"")  # a file of the previous layout
    os.utime(copy, ns=(1, 1))  # the same path, rewritten: not the file the kept graph was made for
    voice_graph(copy, folder)
    assert len(list(folder.iterdir())) == 2  # the real voice's, and the copy's as it is now
    copy.unlink()
    gone = tmp_path / "gone.onnx"
    shutil.copyfile(REAL_MODEL, gone)
    voice_graph(gone, folder)
    assert sorted(path.name.split("-")[0] for path in folder.iterdir()) == ["en_US", "gone"]


def test_a_folder_that_cannot_be_written_costs_only_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert outputs(voice_graph(REAL_MODEL, blocked / "graphs")) == ["output", "/Ceil_output_0"]

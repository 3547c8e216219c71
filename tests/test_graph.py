"""The voice's graph patch (its duration output) is made once per voice file, then read back."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import onnx
import pytest

from swtts.workers.graph import alignment_graph
from tests.conftest import REAL_MODEL


def outputs(graph: bytes) -> list[str]:
    return [output.name for output in onnx.load_from_string(graph).graph.output]


def test_the_patch_adds_the_duration_output() -> None:
    patched = alignment_graph(REAL_MODEL)
    assert patched.startswith(REAL_MODEL.read_bytes())
    assert outputs(patched) == ["output", "/Ceil_output_0"]


def test_the_patch_is_kept_and_read_back_without_onnx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = alignment_graph(REAL_MODEL, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    monkeypatch.setitem(sys.modules, "onnx", None)  # importing it now fails: the kept patch must be used
    assert alignment_graph(REAL_MODEL, tmp_path) == first
    monkeypatch.undo()
    assert outputs(first) == ["output", "/Ceil_output_0"]


def test_another_file_gets_its_own_patch(tmp_path: Path) -> None:
    folder = tmp_path / "graphs"
    copy = tmp_path / "voice.onnx"
    shutil.copyfile(REAL_MODEL, copy)
    alignment_graph(REAL_MODEL, folder)
    alignment_graph(copy, folder)
    os.utime(copy, ns=(1, 1))  # the same path, rewritten: not the file the kept patch was made for
    alignment_graph(copy, folder)
    assert len(list(folder.iterdir())) == 3


def test_a_folder_that_cannot_be_written_costs_only_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert outputs(alignment_graph(REAL_MODEL, blocked / "graphs")) == ["output", "/Ceil_output_0"]

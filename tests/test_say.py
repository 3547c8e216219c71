"""``swtts say`` as a user runs it: a running service is used, else an embedded one; whatever happens
(Ctrl-C, a failed start, a crash, a closed pipe, an output it cannot write) nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from swtts.client import Client
from swtts.config import Settings, load_settings
from swtts.workers.voice_files import VOICE_LOAD_EXIT_CODE
from tests.broken_voices import write_rejected_voice
from tests.helpers import ARTICLE, REPO, children_of, free_port, wait_for

pytestmark = pytest.mark.e2e
SENTENCE = "Harbor Town votes on the future of its old ferry terminal."


@pytest.fixture
def home(tmp_path: Path, settings: Settings) -> Iterator[tuple[Path, dict[str, str]]]:
    """A config naming an endpoint nobody else uses (a colleague's `swtts serve` on the default port
    must not answer these tests) and a private TMPDIR, where the embedded service makes its folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[service]\nendpoint = "tcp://127.0.0.1:{free_port()}"\n[cache]\ndir = "{settings.cache.directory()}"\n'
    )
    yield config, {**os.environ, "TMPDIR": str(temp)}


def say(home: tuple[Path, dict[str, str]], *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    config, env = home
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "swtts", "--log-level", "info", "say", *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        **kwargs,
    )


def finished(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def report(stderr: str) -> str:
    """The line ``say`` ends with: what it wrote, how fast, through which service."""
    (line,) = [line for line in stderr.splitlines() if line.startswith("wrote ")]
    return line


def leftovers(home: tuple[Path, dict[str, str]], pid: int) -> list[str]:
    """What a say process left: its workers, and anything in its TMPDIR."""
    wait_for(lambda: not children_of(pid), timeout=30)  # killed ones may take a moment to be reaped
    return in_temp(home[1])


def in_temp(env: dict[str, str]) -> list[str]:
    """The private TMPDIR's content, but for onnxruntime's own session-id file (kept by design)."""
    return [p.name for p in Path(env["TMPDIR"]).iterdir() if p.name != ".ses"]


def test_without_a_running_service_say_starts_an_embedded_one(
    home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "out.wav"
    process = say(home, SENTENCE, "-o", str(out))
    code, stderr = finished(process)
    assert code == 0, stderr
    assert "starting an embedded one with 1 worker(s)" in stderr
    assert report(stderr).endswith("through an embedded service (1 worker(s))")
    assert soundfile.info(str(out)).duration > 2.0
    assert leftovers(home, process.pid) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "out.wav", "tmp"]


def test_a_running_service_is_used_and_embedded_forces_the_embedded_one(
    home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = home
    endpoint = load_settings(config).service.endpoint
    serve = subprocess.Popen(
        [sys.executable, "-P", "-m", "swtts", "serve", "--workers", "1", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
    )
    try:
        with Client(endpoint, load_settings(config)) as client:
            wait_for(lambda: client.ping(timeout_s=5).ready >= 1, timeout=120)
            before = client.status().audio_seconds_total
            code, stderr = finished(say(home, SENTENCE, "-o", str(tmp_path / "a.wav"), "--no-cache"))
            assert code == 0, stderr
            assert f"using the running service at {endpoint}" in stderr
            assert report(stderr).endswith(f"through the service at {endpoint}")
            served = client.status().audio_seconds_total
            assert served - before > 2.0  # the service spoke it

            code, stderr = finished(say(home, SENTENCE, "-o", str(tmp_path / "b.wav"), "--no-cache", "--embedded"))
            assert code == 0, stderr
            assert "starting an embedded one" in stderr and "using the running service" not in stderr
            assert client.status().audio_seconds_total == served  # the service did not
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0


def test_ctrl_c_mid_synthesis_leaves_no_process_and_no_file(home: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    out = tmp_path / "article.wav"
    process = say(home, "--file", str(REPO / "samples" / "article.txt"), "-o", str(out), "--no-cache")
    assert len(ARTICLE) > 1.5 * load_settings().chunker.max_chunk_chars  # so it has worker processes too

    def writing() -> bool:
        partial = list(tmp_path.glob(".article.wav.*"))
        return bool(partial) and partial[0].stat().st_size > 100_000 and bool(children_of(process.pid))

    wait_for(writing, timeout=300)  # audio is being written and a worker process runs
    process.send_signal(signal.SIGINT)
    code, stderr = finished(process, timeout=60)
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == "swtts: interrupted"
    assert leftovers(home, process.pid) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "tmp"]  # no output, no temporary


def test_ctrl_c_during_start_up_leaves_nothing(home: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    process = say(home, "--file", str(REPO / "samples" / "article.txt"), "-o", str(tmp_path / "x.wav"))
    wait_for(lambda: bool(children_of(process.pid)), timeout=60)  # its worker process is starting
    process.send_signal(signal.SIGINT)
    code, stderr = finished(process, timeout=60)
    assert code == 130, stderr
    assert leftovers(home, process.pid) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "tmp"]


def test_a_failed_start_leaves_nothing(home: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A voice onnxruntime rejects: the in-process worker fails first; its sibling processes go too."""
    model = write_rejected_voice(tmp_path / "voice")
    out = str(tmp_path / "x.wav")
    process = say(home, "--voice", str(model), "--file", str(REPO / "samples" / "article.txt"), "-o", out)
    code, stderr = finished(process)
    assert code == VOICE_LOAD_EXIT_CODE, stderr
    assert stderr.splitlines()[-1].startswith(f"swtts: error: voice model {model}: "), stderr
    assert leftovers(home, process.pid) == []


def test_a_killed_say_leaves_no_worker_and_its_folder_goes_with_the_next(
    home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    process = say(home, "--file", str(REPO / "samples" / "article.txt"), "-o", str(tmp_path / "x.wav"))
    wait_for(lambda: bool(children_of(process.pid)) and bool(list(tmp_path.glob(".x.wav.*"))), timeout=300)
    process.kill()
    process.wait()
    assert [name.startswith("swtts-embedded-") for name in in_temp(home[1])] == [True]  # left by the SIGKILL
    wait_for(lambda: not children_of(process.pid), timeout=60)  # the workers saw their parent go
    make_another = "from swtts.service.pool import PrivateFolder; PrivateFolder('embedded').remove()"
    subprocess.run([sys.executable, "-P", "-c", make_another], env=home[1], check=True, timeout=60)
    assert in_temp(home[1]) == []  # the next folder made removed the dead one's


def test_a_closed_pipe_ends_quietly(home: tuple[Path, dict[str, str]]) -> None:
    config, env = home
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -P -m swtts say --file samples/article.txt -o - --config "{config}" '
            "| head -c 1000 | wc -c; echo ${PIPESTATUS[0]}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert done.stdout.split() == ["1000", "141"], done.stderr  # head got its bytes; say died as of SIGPIPE
    assert done.stderr == ""  # no "Broken pipe" error
    assert in_temp(env) == []


def test_an_unwritable_output_fails_before_anything_starts(home: tuple[Path, dict[str, str]]) -> None:
    code, stderr = finished(say(home, SENTENCE, "-o", "/proc/swtts-test.wav"))
    assert code == 1
    assert stderr.splitlines()[-1].startswith("swtts: error: cannot write /proc/swtts-test.wav: ")
    assert "embedded" not in stderr and "loaded" not in stderr  # no service, no voice


def test_say_ends_once_its_output_is_flushed_without_the_interpreter_teardown(
    home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The process ends when the work is written (no tenth of a second tearing down onnxruntime,
    zmq and numpy), and nothing is lost for it: raw PCM on a pipe comes whole, as in a WAV file."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()  # an exit hook in every process started with it: it runs only if the interpreter tears down
    (hooks / "sitecustomize.py").write_text(
        "import atexit, sys\natexit.register(print, 'torn down', file=sys.stderr)\n"
    )
    config, env = home
    env = {**env, "PYTHONPATH": str(hooks)}
    command = [sys.executable, "-P", "-m", "swtts", "--log-level", "info"]
    steady = ["--noise-scale", "0", "--noise-w", "0", "--no-cache", "--config", str(config)]
    wav = tmp_path / "out.wav"
    to_file = subprocess.run([*command, "say", SENTENCE, "-o", str(wav), *steady], capture_output=True, env=env)
    to_pipe = subprocess.run([*command, "say", SENTENCE, "-o", "-", *steady], capture_output=True, env=env)
    for done in (to_file, to_pipe):
        assert done.returncode == 0, done.stderr
        assert b"torn down" not in done.stderr
    assert report(to_file.stderr.decode()).startswith(f"wrote {wav}")
    assert len(to_pipe.stdout) == 2 * soundfile.info(str(wav)).frames > 0
    other = subprocess.run([*command, "normalize", "Dr. Smith"], capture_output=True, env=env, text=True)
    assert other.returncode == 0 and "torn down" in other.stderr  # a command that does not say so: the usual exit

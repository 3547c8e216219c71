"""The command line: flags mean the same everywhere, usage and config errors are one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
from pathlib import Path

import pytest

from swtts.cli.flags import SETTING_FLAGS
from swtts.cli.parser import build_parser, settings_from_args
from swtts.config import load_settings
from swtts.service.supervisor import CPU_WORKER_MEMORY_MB, warn_if_oversubscribed
from tests.helpers import run_swtts, start_swtts, tcp_endpoint, terminate


def usage_error(*args: str) -> str:
    """The one line a usage or configuration error writes (exit status 2, nothing on stdout)."""
    done = run_swtts(*args, timeout=60)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("swtts: error: "), done.stderr
    return lines[0].removeprefix("swtts: error: ")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["say", "Hi.", "--length-scale", "-1"],
            '--length-scale must be > 0, or "voice" (the voice\'s own value), got -1',
        ),
        (["say", "Hi.", "--length-scale=nan"], '--length-scale must be a finite number, or "voice"'),
        (["say", "Hi.", "--noise-scale", "-5"], '--noise-scale must be at least 0, or "voice"'),
        (["say", "Hi.", "--noise-w", "inf"], "--noise-w must be a finite number"),
        (["say", "Hi.", "--volume", "loud"], "--volume must be a number, got 'loud'"),
        (["say", "Hi.", "--speaker", "1.5"], "--speaker must be an integer, got '1.5'"),
        (["say", "Hi.", "--max-chunk-chars", "100000"], "--max-chunk-chars must be between 1 and 2000, got 100000"),
        (["say", "Hi.", "--workers", "0"], "--workers must be at least 1 for say, which needs a worker"),
        (["say", "Hi.", "--workers", "-1"], '--workers must be at least 0, or "auto" (one per CPU core), got -1'),
        (["serve", "--workers", "-1"], '--workers must be at least 0, or "auto" (one per CPU core), got -1'),
        (["serve", "--workers", "many"], "--workers must be an integer, or \"auto\" (one per CPU core), got 'many'"),
        (["say", "Hi.", "--device", "gpu"], "--device must be cpu, cuda or cuda:N, got 'gpu'"),
        (["say", "Hi.", "--connect", "foo"], "--connect must be tcp://HOST:PORT (port 1-65535), ipc://PATH or"),
        (["say", "Hi.", "--connect", "http://127.0.0.1:8080"], "--connect must be tcp://HOST:PORT"),
        (["serve", "--bind", "garbage"], "--bind must be tcp://HOST:PORT"),
        (["serve", "--metrics-port", "70000"], "--metrics-port must be between 1 and 65535, got 70000"),
        (["serve", "--http", "localhost:99999"], "--http must be HOST:PORT (port 1-65535; [ADDRESS]:PORT for IPv6)"),
        (["http", "--bind", "8000"], "--bind must be HOST:PORT (port 1-65535; [ADDRESS]:PORT for IPv6), got '8000'"),
        (["worker", "--threads", "0"], '--threads must be at least 1, or "auto"'),
        (["wyoming", "--uri", "localhost:10200"], "--uri must be tcp://HOST:PORT (port 1-65535) or unix://PATH"),
        (["serve", "--wyoming", "tcp://127.0.0.1:0"], "--wyoming must be tcp://HOST:PORT (port 1-65535) or unix"),
        (["status", "--interval", "0"], "--interval must be > 0, got 0"),
        (["ping", "--wait", "-1"], "--wait must be at least 0, got -1"),
        (["ping", "--wait", "nan"], "--wait must be at least 0, got nan"),
        (["say", "Hi.", "--bogus"], "unrecognized arguments: --bogus"),
        (["--log-level", "loud", "ping"], "argument --log-level: invalid choice: 'LOUD'"),
        (["cache"], "the following arguments are required: action"),
        (["nothing"], "argument COMMAND: invalid choice: 'nothing'"),
        (["say", "Hi.", "--config", "/nonexistent/swtts.toml"], "config file not found: /nonexistent/swtts.toml"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag_with_exit_2(args: list[str], message: str) -> None:
    assert message in usage_error(*args)


@pytest.mark.e2e
def test_a_bad_config_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[synthesis]\nlength_scale = -1.0\n")
    assert usage_error("say", "Hi.", "--config", str(config)).startswith(
        f"{config}: synthesis.length_scale must be > 0"
    )
    config.write_text("[service]\nworkers = 0\n")
    assert usage_error("say", "Hi.", "--config", str(config)) == (
        "service.workers = 0 leaves say without a worker: give --workers N or --connect"
    )


@pytest.mark.e2e
def test_config_and_log_level_work_before_or_after_the_subcommand(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.toml", tmp_path / "good.toml"
    bad.write_text("[chunker]\nmax_chunk_char = 300\n")
    good.write_text("[service]\nclient_timeout_s = 0.2\nclient_retries = 0\n")
    assert usage_error("--config", str(bad), "say", "Hi.").startswith(f"{bad}: unknown config key")
    assert usage_error("say", "Hi.", "--config", str(bad)).startswith(f"{bad}: unknown config key")
    assert usage_error("--config", str(good), "say", "Hi.", "--config", str(bad)).startswith(str(bad))  # the later wins
    nobody = tcp_endpoint()
    for args in (
        ["--log-level", "debug", "cache", "stats", "--connect", nobody, "--config", str(good)],
        ["--config", str(good), "cache", "stats", "--connect", nobody, "--log-level", "debug"],
    ):
        done = run_swtts(*args, timeout=60)
        assert done.returncode == 1 and done.stderr.splitlines()[-1].startswith("swtts: error: ")
        assert "DEBUG" in done.stderr and "Traceback" in done.stderr, done.stderr  # debug shows the details
    quiet = run_swtts(
        "--log-level",
        "debug",
        "cache",
        "stats",
        "--connect",
        nobody,
        "--config",
        str(good),
        "--log-level",
        "warning",
        timeout=60,
    )
    assert quiet.returncode == 1 and len(quiet.stderr.splitlines()) == 1, quiet.stderr  # the later one wins


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_flag_has_help_text() -> None:
    parser = build_parser()
    for name, sub in {"swtts": parser, **_subparsers(parser)}.items():
        for action in sub._actions:
            if action.dest in ("help", "command", "parent_pid", "error_file"):  # internal to child processes: hidden
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings or action.dest}"


def test_every_setting_flag_names_a_key_and_is_offered() -> None:
    settings = load_settings()
    for key in SETTING_FLAGS.values():
        section, _, name = key.partition(".")
        assert hasattr(getattr(settings, section), name), key
    offered = {flag for sub in _subparsers(build_parser()).values() for a in sub._actions for flag in a.option_strings}
    assert set(SETTING_FLAGS) <= offered


@pytest.mark.parametrize(
    ("args", "section", "key", "value"),
    [
        (["serve", "--workers", "0"], "service", "workers", 0),
        (["serve", "--workers", "auto"], "service", "workers", None),
        (["say", "--workers", "3", "Hi."], "service", "workers", 3),
        (["say", "--length-scale", "voice", "Hi."], "synthesis", "length_scale", None),
        (["say", "--length-scale", "1.5", "Hi."], "synthesis", "length_scale", 1.5),
        (["worker", "--threads", "auto"], "voice", "threads", None),
        (["serve", "--metrics-port", "9999"], "metrics", "enabled", True),
        (["serve", "--http", "127.0.0.1:8080"], "http", "enabled", True),
        (["serve", "--http", "[::1]:8080"], "http", "bind", "[::1]:8080"),
        (["ping", "--connect", "ipc:///tmp/swtts.sock"], "service", "endpoint", "ipc:///tmp/swtts.sock"),
        (["wyoming", "--uri", "unix:///tmp/swtts.sock"], "wyoming", "uri", "unix:///tmp/swtts.sock"),
    ],
)
def test_flags_are_spelled_as_the_config_file_and_override_it(
    tmp_path: Path, args: list[str], section: str, key: str, value: object
) -> None:
    config = tmp_path / "user.toml"
    config.write_text("[service]\nworkers = 2\n[voice]\nthreads = 2\n[synthesis]\nlength_scale = 0.8\n")
    settings = settings_from_args(build_parser().parse_args(["--config", str(config), *args]))
    assert getattr(getattr(settings, section), key) == value


def test_more_cpu_workers_than_cores_is_a_warning_with_the_memory(caplog: pytest.LogCaptureFixture) -> None:
    cores = os.cpu_count() or 1
    with caplog.at_level(logging.WARNING):
        warn_if_oversubscribed(cores, "cpu")
        warn_if_oversubscribed(cores + 1, "cuda:0")
        assert caplog.records == []
        warn_if_oversubscribed(cores + 1, "cpu")
    (record,) = caplog.records
    expected = f"about {(cores + 1) * CPU_WORKER_MEMORY_MB / 1000:.1f} GB of memory"
    assert f"{cores + 1} local workers on {cores} CPU cores" in record.message and expected in record.message


@pytest.mark.e2e
def test_serve_with_no_workers_is_a_broker_alone() -> None:
    endpoint = tcp_endpoint()
    serve = start_swtts("serve", "--workers", "0", "--bind", endpoint, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stderr is not None
        assert serve.stderr.readline().strip() == f"swtts: serving on {endpoint} with 0 local worker(s)"
        ping = run_swtts("ping", "--connect", endpoint, "--wait", "1", timeout=60)
        assert ping.returncode == 1 and "has no ready worker (0 connected)" in ping.stderr
    finally:
        assert terminate(serve) == 0

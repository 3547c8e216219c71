"""Configuration: defaults load, overrides apply, every value is checked, every key is documented and read."""

from __future__ import annotations

import ast
import dataclasses
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from swtts.config import (
    AssemblySettings,
    ConfigError,
    ServiceSettings,
    Settings,
    default_config_path,
    dump_settings,
    load_settings,
    parse_text,
)

REPO = Path(__file__).resolve().parent.parent
SECTIONS: dict[str, type] = get_type_hints(Settings)  # section name -> its class
KEYS = {
    name: {item.name for item in dataclasses.fields(getattr(Settings(), name))} for name in SECTIONS
}  # section -> its keys


def test_default_file_matches_the_typed_defaults() -> None:
    assert load_settings() == Settings()


# ----- every key documented, every key read ------------------------------------------------------


def test_every_key_is_in_the_default_file_with_a_comment_above_it() -> None:
    data = tomllib.loads(default_config_path().read_text())
    assert set(data) == set(KEYS)
    for section, keys in KEYS.items():
        assert set(data[section]) == keys, section
    lines = default_config_path().read_text().splitlines()
    for number, line in enumerate(lines):
        if "=" not in line or line.startswith("#"):
            continue
        block = []
        for above in reversed(lines[:number]):
            if not above.strip() or above.startswith("["):
                break
            block.append(above)
        assert any(text.startswith("#") for text in block), f"{line.split('=')[0].strip()} has no comment above it"


def _package_folders() -> list[Path]:
    """Every folder of the installed package (pyproject's package-dir), so a new one is walked too."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [REPO / folder for folder in pyproject["tool"]["setuptools"]["package-dir"].values()]


def _scopes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of a body, not descending into nested functions or classes (their own scopes)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def settings_reads(source: str) -> set[str]:
    """``section.key`` of every settings key the code reads as an attribute.

    A read is ``<settings>.<section>.<key>`` (``<settings>`` being any name or attribute called
    ``settings``, or a parameter annotated ``Settings``), or ``<alias>.<key>`` where the alias
    holds a section: assigned from ``<settings>.<section>`` (``self.`` attributes across a
    class), a parameter annotated with the section's class, or ``self`` in the section's own
    class. Writes (``override(section__key=...)``), strings and other objects' attributes with
    the same name do not count.
    """
    classes = {section.__name__: name for name, section in SECTIONS.items()} | {"Settings": "*"}
    found: set[str] = set()

    def section_of(node: ast.AST, aliases: dict[str, str]) -> str | None:
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return None
        text = ast.unparse(node)
        if isinstance(node, ast.Attribute) and node.attr in KEYS:
            owner = ast.unparse(node.value)
            if owner.split(".")[-1] == "settings" or aliases.get(owner) == "*":
                return node.attr
        return aliases.get(text)

    def named_class(annotation: ast.expr | None) -> str | None:
        """The section (or ``*`` for Settings) an annotation names, as a name or a string."""
        nodes = list(ast.walk(annotation)) if annotation else []
        names = {n.id for n in nodes if isinstance(n, ast.Name)}
        names |= {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        return next((classes[name] for name in names if name in classes), None)

    def annotated(arguments: ast.arguments) -> dict[str, str]:
        parameters = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
        return {arg.arg: section for arg in parameters if (section := named_class(arg.annotation))}

    def bind(body: list[ast.stmt], aliases: dict[str, str], only_self: bool = False) -> dict[str, str]:
        bound: dict[str, str] = {}
        for _ in range(2):  # an alias of an alias
            for node in _scopes(body):
                pairs: list[tuple[ast.expr, ast.expr]] = []
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                            pairs += zip(target.elts, node.value.elts, strict=False)
                        else:
                            pairs.append((target, node.value))
                for target, value in pairs:
                    section = section_of(value, aliases | bound)
                    if section and (not only_self or ast.unparse(target).startswith("self.")):
                        bound[ast.unparse(target)] = section
        return bound

    def visit(body: list[ast.stmt], aliases: dict[str, str]) -> None:
        aliases = aliases | bind(body, aliases)
        for node in _scopes(body):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                section = section_of(node.value, aliases)
                if section in KEYS and node.attr in KEYS[section]:
                    found.add(f"{section}.{node.attr}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, aliases | annotated(node.args))
            elif isinstance(node, ast.ClassDef):
                members = aliases | ({"self": classes[node.name]} if node.name in classes else {})
                for field in node.body:  # dataclass fields
                    if isinstance(field, ast.AnnAssign) and (section := named_class(field.annotation)):
                        members[f"self.{ast.unparse(field.target)}"] = section
                methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
                for method in methods:
                    members |= bind(method.body, members | annotated(method.args), only_self=True)
                visit(node.body, members)

    visit(ast.parse(source).body, {})
    return found


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("def f(settings):\n    return settings.voice.threads", {"voice.threads"}),
        ("def f(self):\n    return self.settings.service.workers", {"service.workers"}),
        ("def f(settings):\n    v = settings.voice\n    return v.threads", {"voice.threads"}),
        (
            "def f(s):\n    a, b = s.settings.stream, s.settings.chunker\n    return a.flush_chars",
            {"stream.flush_chars"},
        ),
        ("def f(gaps: AssemblySettings):\n    return gaps.sentence_gap_s", {"assembly.sentence_gap_s"}),
        ("def f(config: 'Settings'):\n    return config.cache.dir", {"cache.dir"}),
        (
            "class A:\n    def __init__(self, settings):\n        self.cfg = settings.cache\n"
            "    def g(self):\n        return self.cfg.ttl_s",
            {"cache.ttl_s"},
        ),
        ("class CacheSettings:\n    def d(self):\n        return self.dir", {"cache.dir"}),
        (
            "class A:\n    gaps: AssemblySettings\n    def g(self):\n        return self.gaps.sentence_gap_s",
            {"assembly.sentence_gap_s"},
        ),
        # what is not a read of a setting
        ("def f(chunk):\n    return chunk.max_chunk_chars", set()),
        ("def f(settings):\n    return settings.override(voice__threads=2)", set()),
        ("def f(settings):\n    v = settings.voice\n    return v.not_a_key", set()),
        ("def f(settings):\n    v = settings.voice\ndef g(v):\n    return v.threads", set()),
        ("x = 'settings.voice.threads'", set()),
    ],
)
def test_the_read_finder_finds_reads_and_only_reads(source: str, reads: set[str]) -> None:
    assert settings_reads(source) == reads


def test_every_key_is_read_by_the_package() -> None:
    found: set[str] = set()
    for folder in _package_folders():
        for path in folder.rglob("*.py"):
            found |= settings_reads(path.read_text())
    unread = {f"{section}.{key}" for section, keys in KEYS.items() for key in keys} - found
    assert not unread, f"keys read by nothing: {sorted(unread)}"


# ----- strict values -----------------------------------------------------------------------------

BAD_VALUES = [  # (key, TOML value, what the message says)
    ("service.endpoint", '"localhost:5555"', "must be tcp://HOST:PORT"),
    ("service.endpoint", '"http://127.0.0.1:5555"', "must be tcp://HOST:PORT"),
    ("service.endpoint", '"tcp://127.0.0.1:0"', "port 1-65535"),
    ("service.endpoint", '"tcp://127.0.0.1:70000"', "port 1-65535"),
    ("service.workers", "-1", 'must be at least 0, or "auto" (one per CPU core), got -1'),
    ("service.workers", '"all"', "must be an integer, or \"auto\" (one per CPU core), got 'all'"),
    ("service.workers", "2.5", "must be an integer"),
    ("service.heartbeat_interval_s", "0", "must be > 0, got 0"),
    ("service.heartbeat_interval_s", "nan", "must be a finite number, got nan"),
    ("service.heartbeat_liveness", "0", "must be at least 1, got 0"),
    ("service.reconnect_initial_s", "-0.5", "must be > 0, got -0.5"),
    ("service.reconnect_max_s", "0.1", "must be at least service.reconnect_initial_s (0.25), got 0.1"),
    ("service.max_attempts", "0", "must be at least 1"),
    ("service.request_deadline_s", "inf", "must be a finite number, got inf"),
    ("service.no_worker_timeout_s", "0", "must be > 0"),
    ("service.chunk_deadline_chars_per_s", "0", "must be > 0"),
    ("service.chunk_deadline_factor", "nan", "must be a finite number"),
    ("service.chunk_deadline_min_s", "-3", "must be > 0"),
    ("service.max_queued_chunks", "0", "must be at least 1"),
    ("service.max_queued_bytes", "0", "must be at least 1"),
    ("service.max_text_chars", "0", "must be at least 1"),
    ("service.client_timeout_s", "0", "must be > 0"),
    ("service.client_connect_timeout_s", "-1", "must be > 0"),
    ("service.client_retries", "-1", "must be at least 0"),
    ("service.restart_workers", '"yes"', "must be true or false, got 'yes'"),
    ("voice.model", "1", "must be a string, got 1"),
    ("voice.device", '"gpu"', "must be cpu, cuda or cuda:N, got 'gpu'"),
    ("voice.device", '"cuda:x"', "must be cpu, cuda or cuda:N"),
    ("voice.threads", "0", 'must be at least 1, or "auto"'),
    ("voice.solo_threads", "-2", 'must be at least 1, or "auto"'),
    ("voice.gpu_mem_limit_mb", "-1", "must be at least 0"),
    ("voice.batching", '"yes"', "must be one of auto, on, off, got 'yes'"),
    ("voice.batch_max_size", "0", "must be at least 1"),
    ("voice.batch_max_wait_ms", "-1", "must be at least 0"),
    ("voice.quick_start", '"yes"', "must be true or false"),
    ("synthesis.length_scale", "-1", 'must be > 0, or "voice" (the voice\'s own value), got -1'),
    ("synthesis.length_scale", "0", "must be > 0"),
    ("synthesis.length_scale", "nan", "must be a finite number"),
    ("synthesis.length_scale", "inf", "must be a finite number"),
    ("synthesis.length_scale", '"slow"', "must be a number, or \"voice\" (the voice's own value), got 'slow'"),
    ("synthesis.noise_scale", "-5", 'must be at least 0, or "voice"'),
    ("synthesis.noise_w", "-nan", "must be a finite number"),
    ("synthesis.speaker", "-1", "must be at least 0"),
    ("synthesis.volume", "-0.1", "must be at least 0"),
    ("synthesis.loudness_dbfs", "3", "must be at most 0"),
    ("chunker.max_chunk_chars", "0", "must be between 1 and 2000, got 0"),
    ("chunker.max_chunk_chars", "100000", "must be between 1 and 2000, got 100000"),
    ("chunker.first_chunk_chars", "0", "must be at least 1"),
    ("stream.flush_chars", "0", "must be at least 1"),
    ("stream.flush_after_s", "0", "must be > 0"),
    ("normalize.enabled", '"yes"', "must be true or false"),
    ("normalize.read_code_blocks", "1", "must be true or false"),
    ("normalize.read_code_spans", '"no"', "must be true or false"),
    ("assembly.sentence_gap_s", "-0.1", "must be at least 0"),
    ("assembly.paragraph_gap_s", "nan", "must be a finite number"),
    ("cache.enabled", "1", "must be true or false"),
    ("cache.dir", "false", "must be a string"),
    ("cache.max_mb", "0", "must be at least 1"),
    ("cache.max_entries", "0", "must be at least 1"),
    ("cache.ttl_s", "0", "must be > 0"),
    ("cache.ttl_s", "nan", "must be a finite number"),
    ("metrics.enabled", '"on"', "must be true or false"),
    ("metrics.host", '""', "must be a host name or address"),
    ("metrics.port", "0", "must be between 1 and 65535, got 0"),
    ("metrics.port", "65536", "must be between 1 and 65535"),
    ("security.server_secret", "[]", "must be a string"),
    ("security.server_public", "1.5", "must be a string"),
    ("security.client_secret", "true", "must be a string"),
    ("security.allowed_workers", "{}", "must be a string"),
    ("security.allowed_producers", "2", "must be a string"),
    ("wyoming.uri", '"127.0.0.1:10200"', "must be tcp://HOST:PORT (port 1-65535) or unix://PATH"),
    ("wyoming.uri", '"tcp://127.0.0.1"', "must be tcp://HOST:PORT"),
    ("wyoming.uri", '"tcp://:10200"', "must be tcp://HOST:PORT"),
    ("wyoming.uri", '"tcp://127.0.0.1:*"', "must be tcp://HOST:PORT"),
    ("wyoming.uri", '"http://127.0.0.1:10200"', "must be tcp://HOST:PORT"),
    ("wyoming.uri", '"unix://"', "or unix://PATH"),
    ("wyoming.uri", '"stdio://"', "or unix://PATH"),
    ("wyoming.allow_remote", '"yes"', "must be true or false"),
    ("wyoming.zeroconf", "true", "must be a string"),
    ("wyoming.voices_file", "0", "must be a string"),
    ("wyoming.use_cache", "0", "must be true or false"),
    ("wyoming.samples_per_chunk", "0", "must be at least 1, got 0"),
    ("wyoming.samples_per_chunk", "1.5", "must be an integer"),
    ("wyoming.write_timeout_s", "0", "must be > 0, got 0"),
    ("wyoming.write_timeout_s", "inf", "must be a finite number"),
    ("wyoming.write_buffer_bytes", "0", "must be at least 1"),
    ("wyoming.voices_max_age_s", "-1", "must be at least 0, got -1"),
    ("wyoming.voices_max_age_s", "nan", "must be a finite number"),
    ("http.enabled", '"yes"', "must be true or false"),
    ("http.bind", '"8000"', "must be HOST:PORT (port 1-65535; [ADDRESS]:PORT for IPv6), got '8000'"),
    ("http.bind", '":8000"', "must be HOST:PORT"),
    ("http.bind", '"localhost:0"', "must be HOST:PORT"),
    ("http.bind", '"localhost:http"', "must be HOST:PORT"),
    ("http.api_keys_file", "1", "must be a string"),
    ("http.max_input_chars", "0", "must be at least 1"),
    ("http.max_body_bytes", "0", "must be at least 1"),
    ("http.max_streams", "0", "must be at least 1"),
    ("http.models", '"piper"', "must be a list of strings, got 'piper'"),
    ("http.models", '["piper", 2]', "must be a list of strings, got ['piper', 2]"),
    ("http.voice_map", "{ alloy = 3 }", "must be a table of strings, got {'alloy': 3}"),
    ("http.voice_map", '["fr_FR"]', "must be a table of strings"),
]


@pytest.mark.parametrize(("key", "value", "problem"), BAD_VALUES, ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_in_a_file_is_an_error_naming_the_file_and_the_key(
    tmp_path: Path, key: str, value: str, problem: str
) -> None:
    section, _, name = key.partition(".")
    path = tmp_path / "user.toml"
    path.write_text(f"[{section}]\n{name} = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(f"{path}: {key} ")
    assert problem in str(error.value)
    assert (error.value.key, error.value.source) == (key, str(path))


@pytest.mark.parametrize(("key", "value", "problem"), BAD_VALUES, ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_a_bad_override_is_the_same_error(key: str, value: str, problem: str) -> None:
    section, _, name = key.partition(".")
    parsed = tomllib.loads(f"v = {value}")["v"]
    with pytest.raises(ConfigError, match=r"^override: ") as error:
        load_settings().override(**{f"{section}__{name}": parsed})
    assert error.value.key == key and problem in error.value.problem


def test_every_key_has_a_bad_value_in_the_table() -> None:
    tested = {key for key, _, _ in BAD_VALUES}
    assert tested == {f"{section}.{key}" for section, keys in KEYS.items() for key in keys}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"service__workers": "auto"}, ("service", "workers", None)),
        ({"service__workers": 0}, ("service", "workers", 0)),
        ({"service__endpoint": "ipc:///tmp/x.sock"}, ("service", "endpoint", "ipc:///tmp/x.sock")),
        ({"service__endpoint": "tcp://*:5555"}, ("service", "endpoint", "tcp://*:5555")),
        ({"service__endpoint": "tcp://[::1]:5555"}, ("service", "endpoint", "tcp://[::1]:5555")),
        ({"voice__device": "cuda:1"}, ("voice", "device", "cuda:1")),
        ({"voice__device": "cuda"}, ("voice", "device", "cuda")),
        ({"voice__threads": "auto"}, ("voice", "threads", None)),
        ({"synthesis__length_scale": "voice"}, ("synthesis", "length_scale", None)),
        ({"synthesis__length_scale": 2}, ("synthesis", "length_scale", 2.0)),
        ({"synthesis__noise_scale": 0}, ("synthesis", "noise_scale", 0.0)),
        ({"cache__ttl_s": math.inf}, ("cache", "ttl_s", math.inf)),
        ({"metrics__port": 65535}, ("metrics", "port", 65535)),
        ({"wyoming__uri": "unix:///run/swtts.sock"}, ("wyoming", "uri", "unix:///run/swtts.sock")),
        ({"wyoming__uri": "tcp://[::1]:10200"}, ("wyoming", "uri", "tcp://[::1]:10200")),
        ({"wyoming__voices_max_age_s": 0}, ("wyoming", "voices_max_age_s", 0.0)),
        ({"http__bind": "[::1]:8000"}, ("http", "bind", "[::1]:8000")),
        ({"http__models": ["piper"]}, ("http", "models", ["piper"])),
        ({"http__voice_map": {"nova": "fr_FR"}}, ("http", "voice_map", {"nova": "fr_FR"})),
    ],
)
def test_good_values_are_accepted(changes: dict[str, Any], expected: tuple[str, str, Any]) -> None:
    section, key, value = expected
    got = getattr(getattr(load_settings().override(**changes), section), key)
    assert got == value and type(got) is type(value)


def test_settings_built_in_python_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^assembly\.sentence_gap_s must be at least 0, got -1$"):
        AssemblySettings(sentence_gap_s=-1.0)
    with pytest.raises(ConfigError, match=r"service\.workers"):
        ServiceSettings(workers=-3)


def test_local_workers_auto_is_one_per_core_and_zero_is_none() -> None:
    assert ServiceSettings().local_workers() >= 1
    assert ServiceSettings(workers=0).local_workers() == 0
    assert ServiceSettings(workers=3).local_workers() == 3


def test_parse_text_reads_a_flag_as_the_file_would(tmp_path: Path) -> None:
    assert parse_text("service.workers", "4") == 4
    assert parse_text("service.workers", "auto") == "auto"
    assert parse_text("synthesis.length_scale", "voice") == "voice"
    assert math.isnan(parse_text("synthesis.length_scale", "nan"))  # refused when applied
    assert parse_text("metrics.enabled", "true") is True
    with pytest.raises(ConfigError) as error:
        parse_text("service.workers", "many")
    assert (error.value.key, error.value.problem) == (
        "service.workers",
        "must be an integer, or \"auto\" (one per CPU core), got 'many'",
    )


# ----- files -------------------------------------------------------------------------------------


def test_a_retired_key_says_what_replaced_it(tmp_path: Path) -> None:
    old = tmp_path / "broker.toml"
    old.write_text('[security]\nserver_secret = "keys/server.key_secret"\nallowed_clients = "keys/allowed"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(old)
    assert error.value.key == "security.allowed_clients" and error.value.source == str(old)
    assert "security.allowed_workers" in str(error.value) and "security.allowed_producers" in str(error.value)
    assert "\n" not in str(error.value)


def test_user_file_overrides_and_unknown_keys_fail(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        "[chunker]\nmax_chunk_chars = 300\n[service]\nclient_timeout_s = 2\n[synthesis]\nlength_scale = 1.2\n"
    )
    settings = load_settings(good)
    assert settings.chunker.max_chunk_chars == 300
    assert settings.service.client_timeout_s == 2.0
    assert settings.synthesis.length_scale == 1.2 and settings.synthesis.noise_scale is None
    bad = tmp_path / "bad.toml"
    bad.write_text("[chunker]\nmax_chunk_char = 300\n")
    with pytest.raises(ConfigError, match=r"unknown config key chunker\.max_chunk_char$"):
        load_settings(bad)
    bad.write_text("[chunkers]\n")
    with pytest.raises(ConfigError, match=r"unknown config section \[chunkers\]"):
        load_settings(bad)
    bad.write_text("chunker = 3\n")
    with pytest.raises(ConfigError, match=r"\[chunker\] must be a table"):
        load_settings(bad)
    bad.write_text("[chunker\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path)


def test_override_and_dump_round_trip(tmp_path: Path) -> None:
    settings = load_settings().override(
        service__workers=3,
        voice__device="cuda:0",
        synthesis__noise_w=0.5,
        cache__ttl_s=math.inf,
        http__models=["piper", 'say "hi"'],
        http__voice_map={"nova": "fr_FR", "my voice": "de"},
    )
    assert settings.service.workers == 3 and settings.voice.device == "cuda:0"
    path = tmp_path / "dump.toml"
    path.write_text(dump_settings(settings))
    assert load_settings(path) == settings
    assert 'length_scale = "voice"' in path.read_text() and 'threads = "auto"' in path.read_text()


def test_list_and_table_keys_read_from_a_file_and_are_not_shared(tmp_path: Path) -> None:
    path = tmp_path / "http.toml"
    path.write_text('[http]\nmodels = ["piper"]\n[http.voice_map]\nalloy = "fr_FR"\n')
    settings = load_settings(path)
    assert settings.http.models == ["piper"] and settings.http.voice_map == {"alloy": "fr_FR"}
    assert Settings().http.models == [] and Settings().http.models is not Settings().http.models

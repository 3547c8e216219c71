"""Typed configuration for the whole service, loaded from ``config/default.toml``.

One object (:class:`Settings`) carries every tunable; a user file given with ``--config``
overrides any subset of keys and command-line flags override that. Every value is checked
when it is set (file, override or flag): unknown sections or keys, values of the wrong type
and values out of range are errors that name the offending key, so a typo or a nonsensical
number never passes silently. Where a key can mean "work it out for me" that is spelled as a
word (``"auto"``, ``"voice"``), held as ``None`` in the typed settings, never as a magic number.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

from swtts.config.rules import (
    ENDPOINT,
    HOST_PORT,
    PORT,
    POSITIVE,
    VOICE_OWN,
    WYOMING_URI,
    ConfigError,
    Section,
    base_type,
    rule_of,
    setting,
    type_wanted,
)

__all__ = [
    "MAX_CHUNK_CHARS",
    "AssemblySettings",
    "CacheSettings",
    "ChunkerSettings",
    "ConfigError",
    "HttpSettings",
    "MetricsSettings",
    "NormalizeSettings",
    "SecuritySettings",
    "ServiceSettings",
    "Settings",
    "StreamSettings",
    "SynthesisSettings",
    "VoiceSettings",
    "WyomingSettings",
    "dump_settings",
    "load_settings",
    "parse_text",
]


RETIRED_KEYS = {
    "security.allowed_clients": "is gone: workers and producers are allowed separately now; put their public keys "
    "in the folders security.allowed_workers and security.allowed_producers (`swtts keys DIR` makes both)",
}
"""Keys earlier versions read, with what to write instead: a file still holding one is an error saying so."""


@dataclass(frozen=True)
class ServiceSettings(Section):
    section: ClassVar[str] = "service"

    endpoint: str = setting("tcp://127.0.0.1:5555", **ENDPOINT)
    workers: int | None = setting(None, low=0, word="auto", word_means="one per CPU core")
    heartbeat_interval_s: float = setting(1.0, **POSITIVE)
    heartbeat_liveness: int = setting(3, low=1)
    reconnect_initial_s: float = setting(0.25, **POSITIVE)
    reconnect_max_s: float = setting(8.0, **POSITIVE)
    max_attempts: int = setting(3, low=1)
    request_deadline_s: float = setting(900.0, **POSITIVE)
    no_worker_timeout_s: float = setting(5.0, **POSITIVE)
    chunk_deadline_chars_per_s: float = setting(15.0, **POSITIVE)
    chunk_deadline_factor: float = setting(2.0, **POSITIVE)
    chunk_deadline_min_s: float = setting(10.0, **POSITIVE)
    max_queued_chunks: int = setting(50000, low=1)
    max_queued_bytes: int = setting(64_000_000, low=1)
    max_text_chars: int = setting(1_000_000, low=1)
    client_connect_timeout_s: float = setting(2.0, **POSITIVE)
    client_timeout_s: float = setting(10.0, **POSITIVE)
    client_retries: int = setting(3, low=0)
    restart_workers: bool = setting(True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError(
                f"must be at least service.reconnect_initial_s ({self.reconnect_initial_s:g}), "
                f"got {self.reconnect_max_s:g}",
                "service.reconnect_max_s",
            )

    def local_workers(self) -> int:
        """Worker count with ``"auto"`` resolved to one per CPU core (0 stays 0: a broker alone)."""
        return max(1, os.cpu_count() or 1) if self.workers is None else self.workers


@dataclass(frozen=True)
class VoiceSettings(Section):
    section: ClassVar[str] = "voice"

    model: str = setting("")
    device: str = setting(
        "cpu", shape=lambda text: re.fullmatch(r"cpu|cuda(:\d+)?", text) is not None, described="cpu, cuda or cuda:N"
    )
    threads: int | None = setting(None, low=1, word="auto", word_means="worked out from the CPU cores")
    solo_threads: int | None = setting(None, low=1, word="auto", word_means="every CPU core")
    gpu_mem_limit_mb: int = setting(0, low=0)
    batching: str = setting("auto", choices=("auto", "on", "off"))
    batch_max_size: int = setting(8, low=1)
    batch_max_wait_ms: float = setting(4.0, low=0)
    quick_start: bool = setting(False)


@dataclass(frozen=True)
class SynthesisSettings(Section):
    section: ClassVar[str] = "synthesis"

    length_scale: float | None = setting(None, **POSITIVE, **VOICE_OWN)
    noise_scale: float | None = setting(None, low=0, **VOICE_OWN)
    noise_w: float | None = setting(None, low=0, **VOICE_OWN)
    speaker: int = setting(0, low=0)
    volume: float = setting(1.0, low=0)
    loudness_dbfs: float = setting(-20.0, high=0)


MAX_CHUNK_CHARS = 2000
"""Longest chunk anyone may ask for: one chunk's audio (about 110 s at this length) is held
whole by its worker, so this and the bounded forward passes keep a worker's memory bounded."""


@dataclass(frozen=True)
class ChunkerSettings(Section):
    section: ClassVar[str] = "chunker"

    max_chunk_chars: int = setting(800, low=1, high=MAX_CHUNK_CHARS)
    first_chunk_chars: int = setting(120, low=1)


@dataclass(frozen=True)
class StreamSettings(Section):
    section: ClassVar[str] = "stream"

    flush_chars: int = setting(160, low=1)
    flush_after_s: float = setting(1.5, **POSITIVE)


@dataclass(frozen=True)
class NormalizeSettings(Section):
    section: ClassVar[str] = "normalize"

    enabled: bool = setting(True)
    read_code_blocks: bool = setting(False)
    read_code_spans: bool = setting(True)


@dataclass(frozen=True)
class AssemblySettings(Section):
    section: ClassVar[str] = "assembly"

    sentence_gap_s: float = setting(0.15, low=0)
    paragraph_gap_s: float = setting(0.5, low=0)


@dataclass(frozen=True)
class CacheSettings(Section):
    section: ClassVar[str] = "cache"

    enabled: bool = setting(True)
    dir: str = setting("")
    max_mb: int = setting(200, low=1)
    max_entries: int = setting(2000, low=1)
    ttl_s: float = setting(7200.0, **POSITIVE, infinite=True)

    def directory(self) -> Path:
        """The cache directory, with the per-user default resolved."""
        if self.dir:
            return Path(self.dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "swtts"


@dataclass(frozen=True)
class MetricsSettings(Section):
    section: ClassVar[str] = "metrics"

    enabled: bool = setting(False)
    host: str = setting("127.0.0.1", shape=bool, described="a host name or address")
    port: int = setting(9464, **PORT)


@dataclass(frozen=True)
class SecuritySettings(Section):
    section: ClassVar[str] = "security"

    server_secret: str = setting("")
    server_public: str = setting("")
    client_secret: str = setting("")
    allowed_workers: str = setting("")
    allowed_producers: str = setting("")


@dataclass(frozen=True)
class WyomingSettings(Section):
    section: ClassVar[str] = "wyoming"

    uri: str = setting("tcp://127.0.0.1:10200", **WYOMING_URI)
    allow_remote: bool = setting(False)
    zeroconf: str = setting("")
    voices_file: str = setting("")
    use_cache: bool = setting(True)
    samples_per_chunk: int = setting(1024, low=1)
    write_timeout_s: float = setting(10.0, **POSITIVE)
    write_buffer_bytes: int = setting(262144, low=1)
    voices_max_age_s: float = setting(5.0, low=0)


@dataclass(frozen=True)
class HttpSettings(Section):
    section: ClassVar[str] = "http"

    enabled: bool = setting(False)
    bind: str = setting("127.0.0.1:8000", **HOST_PORT)
    api_keys_file: str = setting("")
    max_input_chars: int = setting(1_000_000, low=1)
    max_body_bytes: int = setting(16_000_000, low=1)
    max_streams: int = setting(8, low=1)
    models: list[str] = setting([])
    voice_map: dict[str, str] = setting({})


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    synthesis: SynthesisSettings = field(default_factory=SynthesisSettings)
    chunker: ChunkerSettings = field(default_factory=ChunkerSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    normalize: NormalizeSettings = field(default_factory=NormalizeSettings)
    assembly: AssemblySettings = field(default_factory=AssemblySettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    wyoming: WyomingSettings = field(default_factory=WyomingSettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    def override(self, **changes: Any) -> Settings:
        """Return a copy with ``section__key=value`` changes applied; ``None`` values are skipped.

        Values are what the TOML file would hold (``"auto"``, ``"voice"`` included) and are
        checked as a file's are.
        """
        sections: dict[str, dict[str, Any]] = {}
        for dotted, value in changes.items():
            if value is None:
                continue
            section, _, key = dotted.partition("__")
            sections.setdefault(section, {})[key] = value
        return _merge(self, sections, source="override")


def parse_text(key: str, text: str) -> Any:
    """A command-line string as the value of ``key`` (``section.key``), spelled as in the TOML file.

    Only the type is converted here; ranges are checked when the value is applied.
    """
    section, _, name = key.partition(".")
    section_type = get_type_hints(Settings)[section]
    item = next(f for f in dataclasses.fields(section_type) if f.name == name)
    hint, rule = get_type_hints(section_type)[name], rule_of(item)
    base = base_type(hint)
    if rule.word and text == rule.word:
        return text
    try:
        if base is bool:
            return {"true": True, "false": False}[text]
        return base(text)
    except (KeyError, ValueError):
        raise ConfigError(f"{type_wanted(base, rule)}, got {text!r}", key) from None


def dump_settings(settings: Settings) -> str:
    """TOML text of ``settings``, so child processes start with exactly the same configuration."""
    lines: list[str] = []
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        lines.append(f"[{section.name}]")
        for item in dataclasses.fields(values):
            value = getattr(values, item.name)
            lines.append(f"{item.name} = {_toml_value(rule_of(item).word if value is None else value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | list):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + "}"
    return repr(value)


def default_config_path() -> Path:
    """The packaged ``default.toml`` (documented defaults)."""
    return Path(str(resources.files("swtts.config").joinpath("default.toml")))


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load the packaged defaults, then the optional user file on top."""
    settings = _merge(Settings(), _read_toml(default_config_path()), source="default.toml")
    if path is not None:
        settings = _merge(settings, _read_toml(Path(path)), source=str(path))
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _merge(settings: Settings, data: dict[str, Any], source: str) -> Settings:
    section_types = get_type_hints(Settings)
    replaced: dict[str, Any] = {}
    for section_name, values in data.items():
        if section_name not in section_types:
            raise ConfigError(f"unknown config section [{section_name}]", source=source)
        if not isinstance(values, dict):
            raise ConfigError(f"[{section_name}] must be a table", source=source)
        current = getattr(settings, section_name)
        known = {item.name: item for item in dataclasses.fields(current)}
        hints = get_type_hints(type(current))
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                retired = RETIRED_KEYS.get(f"{section_name}.{key}")
                if retired:
                    raise ConfigError(retired, f"{section_name}.{key}", source)
                raise ConfigError(f"unknown config key {section_name}.{key}", source=source)
            rule = rule_of(known[key])
            widen = base_type(hints[key]) is float and type(value) is int  # TOML's 1 for 1.0
            checked[key] = None if rule.word and value == rule.word else float(value) if widen else value
        try:
            replaced[section_name] = dataclasses.replace(current, **checked)
        except ConfigError as exc:
            raise ConfigError(exc.problem, exc.key, source) from None
    return dataclasses.replace(settings, **replaced)

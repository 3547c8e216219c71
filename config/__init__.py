"""Typed configuration for the whole service, loaded from ``config/default.toml``.

One object (:class:`Settings`) carries every tunable; a user file given with ``--config``
overrides any subset of keys and command-line flags override that. Unknown sections or keys
and values of the wrong type are errors that name the offending key, so a typo never passes
silently.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_origin, get_type_hints

__all__ = [
    "AssemblySettings",
    "CacheSettings",
    "ChunkerSettings",
    "ConfigError",
    "HttpSettings",
    "MetricsSettings",
    "SecuritySettings",
    "ServiceSettings",
    "Settings",
    "StreamSettings",
    "SynthesisSettings",
    "VoiceSettings",
    "dump_settings",
    "load_settings",
]


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass(frozen=True)
class ServiceSettings:
    endpoint: str = "tcp://127.0.0.1:5555"
    workers: int = 0
    heartbeat_interval_s: float = 1.0
    heartbeat_liveness: int = 3
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 8.0
    max_attempts: int = 3
    request_deadline_s: float = 900.0
    max_queued_chunks: int = 50000
    max_queued_bytes: int = 64_000_000
    max_text_chars: int = 1_000_000
    client_timeout_s: float = 10.0
    client_retries: int = 3
    restart_workers: bool = True

    def local_workers(self) -> int:
        """Worker count with 0 resolved to one per CPU core."""
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class VoiceSettings:
    model: str = ""
    device: str = "cpu"
    threads: int = 0
    solo_threads: int = 0
    gpu_mem_limit_mb: int = 0
    batching: str = "auto"
    batch_max_size: int = 8
    batch_max_wait_ms: float = 4.0


@dataclass(frozen=True)
class SynthesisSettings:
    length_scale: float = -1.0
    noise_scale: float = -1.0
    noise_w: float = -1.0
    speaker: int = 0
    volume: float = 1.0
    loudness_dbfs: float = -20.0


@dataclass(frozen=True)
class ChunkerSettings:
    max_chunk_chars: int = 800
    first_chunk_chars: int = 120
    chars_per_second: float = 15.0


@dataclass(frozen=True)
class StreamSettings:
    flush_chars: int = 160
    flush_after_s: float = 1.5


@dataclass(frozen=True)
class AssemblySettings:
    sentence_gap_s: float = 0.15
    paragraph_gap_s: float = 0.5


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool = True
    dir: str = ""
    max_mb: int = 200
    max_entries: int = 2000
    ttl_s: float = 7200.0

    def directory(self) -> Path:
        """The cache directory, with the per-user default resolved."""
        if self.dir:
            return Path(self.dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "swtts"


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class SecuritySettings:
    server_secret: str = ""
    server_public: str = ""
    client_secret: str = ""
    allowed_clients: str = ""


@dataclass(frozen=True)
class HttpSettings:
    enabled: bool = False
    bind: str = "127.0.0.1:8000"
    api_keys_file: str = ""
    max_input_chars: int = 1_000_000
    max_body_bytes: int = 16_000_000
    max_streams: int = 8
    models: list[str] = field(default_factory=list)
    voice_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    synthesis: SynthesisSettings = field(default_factory=SynthesisSettings)
    chunker: ChunkerSettings = field(default_factory=ChunkerSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    assembly: AssemblySettings = field(default_factory=AssemblySettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    def override(self, **changes: Any) -> Settings:
        """Return a copy with ``section__key=value`` changes applied; ``None`` values are skipped."""
        sections: dict[str, dict[str, Any]] = {}
        for dotted, value in changes.items():
            if value is None:
                continue
            section, _, key = dotted.partition("__")
            sections.setdefault(section, {})[key] = value
        return _merge(self, sections, source="override")


def dump_settings(settings: Settings) -> str:
    """TOML text of ``settings``, so child processes start with exactly the same configuration."""
    lines: list[str] = []
    for section in dataclasses.fields(settings):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(settings, section.name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _merge(settings: Settings, data: dict[str, Any], source: str) -> Settings:
    section_types = get_type_hints(Settings)
    replaced: dict[str, Any] = {}
    for section_name, values in data.items():
        if section_name not in section_types:
            raise ConfigError(f"{source}: unknown config section [{section_name}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section_name}] must be a table")
        current = getattr(settings, section_name)
        replaced[section_name] = _merge_section(current, section_name, values, source)
    return dataclasses.replace(settings, **replaced)


def _merge_section(current: Any, section_name: str, values: dict[str, Any], source: str) -> Any:
    hints = get_type_hints(type(current))
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{source}: unknown config key {section_name}.{key}")
        checked[key] = _coerce(value, hints[key], f"{section_name}.{key}", source)
    return dataclasses.replace(current, **checked)


def _coerce(value: Any, expected: Any, name: str, source: str) -> Any:
    if get_origin(expected) in (list, dict):
        return _coerce_strings(value, expected, name, source)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: {name} must be true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{source}: {name} must be an integer, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{source}: {name} must be {expected.__name__}, got {value!r}")
    return value


def _coerce_strings(value: Any, expected: Any, name: str, source: str) -> Any:
    """A list of strings or a table of string values (the only containers the settings hold)."""
    container = get_origin(expected)
    items = value.values() if isinstance(value, dict) else value
    if not isinstance(value, container) or not all(isinstance(item, str) for item in items):
        kind = "a list of strings" if container is list else "a table of strings"
        raise ConfigError(f"{source}: {name} must be {kind}, got {value!r}")
    return container(value)

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
import math
import os
import re
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, get_args, get_type_hints

__all__ = [
    "AssemblySettings",
    "CacheSettings",
    "ChunkerSettings",
    "ConfigError",
    "MetricsSettings",
    "SecuritySettings",
    "ServiceSettings",
    "Settings",
    "StreamSettings",
    "SynthesisSettings",
    "VoiceSettings",
    "dump_settings",
    "load_settings",
    "parse_text",
]


class ConfigError(ValueError):
    """A configuration file, override or flag is invalid.

    ``key`` names the setting (``section.key``; empty for a whole-file problem) and ``problem``
    says what is wrong with it, so the command line can name its own flag instead of the key.
    """

    def __init__(self, problem: str, key: str = "", source: str = "") -> None:
        self.problem = problem
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key} {problem}" if key else f"{where}{problem}")


@dataclass(frozen=True)
class Rule:
    """What a key accepts beyond its type."""

    low: float | None = None  # smallest accepted value
    above: bool = False  # ``low`` itself is refused (> rather than >=)
    high: float | None = None  # largest accepted value
    infinite: bool = False  # ``inf`` is accepted (``nan`` never is)
    choices: tuple[str, ...] = ()
    shape: Callable[[str], bool] | None = None  # a string's form, described by ``described``
    described: str = ""
    word: str = ""  # how ``None`` is spelled in TOML and on the command line
    word_means: str = ""


def _key(default: Any, **rule: Any) -> Any:
    """A settings field with its :class:`Rule`."""
    return field(default=default, metadata={"rule": Rule(**rule)})


def _is_endpoint(text: str) -> bool:
    scheme, separator, address = text.partition("://")
    if not separator or not address:
        return False
    if scheme in ("ipc", "inproc"):
        return True
    host, colon, port = address.rpartition(":")
    return scheme == "tcp" and bool(colon and host) and (port == "*" or (port.isdigit() and 1 <= int(port) <= 65535))


ENDPOINT = {"shape": _is_endpoint, "described": "tcp://HOST:PORT (port 1-65535), ipc://PATH or inproc://NAME"}
POSITIVE = {"low": 0, "above": True}
PORT = {"low": 1, "high": 65535}
VOICE_OWN = {"word": "voice", "word_means": "the voice's own value"}


class _Section:
    """Checks every field of a settings section against its type and rule on construction."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            problem = _problem(getattr(self, item.name), hints[item.name], _rule(item))
            if problem:
                raise ConfigError(problem, f"{self.section}.{item.name}")


@dataclass(frozen=True)
class ServiceSettings(_Section):
    section: ClassVar[str] = "service"

    endpoint: str = _key("tcp://127.0.0.1:5555", **ENDPOINT)
    workers: int | None = _key(None, low=0, word="auto", word_means="one per CPU core")
    heartbeat_interval_s: float = _key(1.0, **POSITIVE)
    heartbeat_liveness: int = _key(3, low=1)
    reconnect_initial_s: float = _key(0.25, **POSITIVE)
    reconnect_max_s: float = _key(8.0, **POSITIVE)
    max_attempts: int = _key(3, low=1)
    request_deadline_s: float = _key(900.0, **POSITIVE)
    max_queued_chunks: int = _key(50000, low=1)
    max_queued_bytes: int = _key(64_000_000, low=1)
    max_text_chars: int = _key(1_000_000, low=1)
    client_timeout_s: float = _key(10.0, **POSITIVE)
    client_retries: int = _key(3, low=0)
    restart_workers: bool = _key(True)

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
class VoiceSettings(_Section):
    section: ClassVar[str] = "voice"

    model: str = _key("")
    device: str = _key(
        "cpu", shape=lambda text: re.fullmatch(r"cpu|cuda(:\d+)?", text) is not None, described="cpu, cuda or cuda:N"
    )
    threads: int | None = _key(None, low=1, word="auto", word_means="worked out from the CPU cores")
    solo_threads: int | None = _key(None, low=1, word="auto", word_means="every CPU core")
    gpu_mem_limit_mb: int = _key(0, low=0)
    batching: str = _key("auto", choices=("auto", "on", "off"))
    batch_max_size: int = _key(8, low=1)
    batch_max_wait_ms: float = _key(4.0, low=0)


@dataclass(frozen=True)
class SynthesisSettings(_Section):
    section: ClassVar[str] = "synthesis"

    length_scale: float | None = _key(None, **POSITIVE, **VOICE_OWN)
    noise_scale: float | None = _key(None, low=0, **VOICE_OWN)
    noise_w: float | None = _key(None, low=0, **VOICE_OWN)
    speaker: int = _key(0, low=0)
    volume: float = _key(1.0, low=0)
    loudness_dbfs: float = _key(-20.0, high=0)


@dataclass(frozen=True)
class ChunkerSettings(_Section):
    section: ClassVar[str] = "chunker"

    max_chunk_chars: int = _key(800, low=1)
    first_chunk_chars: int = _key(120, low=1)


@dataclass(frozen=True)
class StreamSettings(_Section):
    section: ClassVar[str] = "stream"

    flush_chars: int = _key(160, low=1)
    flush_after_s: float = _key(1.5, **POSITIVE)


@dataclass(frozen=True)
class AssemblySettings(_Section):
    section: ClassVar[str] = "assembly"

    sentence_gap_s: float = _key(0.15, low=0)
    paragraph_gap_s: float = _key(0.5, low=0)


@dataclass(frozen=True)
class CacheSettings(_Section):
    section: ClassVar[str] = "cache"

    enabled: bool = _key(True)
    dir: str = _key("")
    max_mb: int = _key(200, low=1)
    max_entries: int = _key(2000, low=1)
    ttl_s: float = _key(7200.0, **POSITIVE, infinite=True)

    def directory(self) -> Path:
        """The cache directory, with the per-user default resolved."""
        if self.dir:
            return Path(self.dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "swtts"


@dataclass(frozen=True)
class MetricsSettings(_Section):
    section: ClassVar[str] = "metrics"

    enabled: bool = _key(False)
    host: str = _key("127.0.0.1", shape=bool, described="a host name or address")
    port: int = _key(9464, **PORT)


@dataclass(frozen=True)
class SecuritySettings(_Section):
    section: ClassVar[str] = "security"

    server_secret: str = _key("")
    server_public: str = _key("")
    client_secret: str = _key("")
    allowed_clients: str = _key("")


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
    hint, rule = get_type_hints(section_type)[name], _rule(item)
    base = _base_type(hint)
    if rule.word and text == rule.word:
        return text
    try:
        if base is bool:
            return {"true": True, "false": False}[text]
        return base(text)
    except (KeyError, ValueError):
        raise ConfigError(f"{_type_wanted(base, rule)}, got {text!r}", key) from None


def dump_settings(settings: Settings) -> str:
    """TOML text of ``settings``, so child processes start with exactly the same configuration."""
    lines: list[str] = []
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        lines.append(f"[{section.name}]")
        for item in dataclasses.fields(values):
            value = getattr(values, item.name)
            lines.append(f"{item.name} = {_toml_value(_rule(item).word if value is None else value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
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
                raise ConfigError(f"unknown config key {section_name}.{key}", source=source)
            rule = _rule(known[key])
            widen = _base_type(hints[key]) is float and type(value) is int  # TOML's 1 for 1.0
            checked[key] = None if rule.word and value == rule.word else float(value) if widen else value
        try:
            replaced[section_name] = dataclasses.replace(current, **checked)
        except ConfigError as exc:
            raise ConfigError(exc.problem, exc.key, source) from None
    return dataclasses.replace(settings, **replaced)


def _rule(item: dataclasses.Field[Any]) -> Rule:
    rule = item.metadata.get("rule")
    return rule if isinstance(rule, Rule) else Rule()


def _base_type(hint: Any) -> type:
    """``int`` for ``int | None``; the hint itself otherwise."""
    if isinstance(hint, types.UnionType):
        return next(arg for arg in get_args(hint) if arg is not type(None))  # type: ignore[no-any-return]
    return hint  # type: ignore[no-any-return]


def _problem(value: Any, hint: Any, rule: Rule) -> str:
    """What is wrong with ``value`` for a key of type ``hint`` under ``rule``; empty when it is fine."""
    base = _base_type(hint)
    if value is None and base is not hint:
        return ""
    numeric = base in (int, float)
    if (
        isinstance(value, bool) != (base is bool)
        or (base is int and not isinstance(value, int))
        or (base is float and not isinstance(value, (int, float)))
        or (base is str and not isinstance(value, str))
    ):
        return f"{_type_wanted(base, rule)}, got {_show(value)}"
    if base is float and (math.isnan(value) or (math.isinf(value) and not rule.infinite)):
        return f"must be a finite number{_or_word(rule)}, got {_show(value)}"
    if rule.choices and value not in rule.choices:
        return f"must be one of {', '.join(rule.choices)}, got {_show(value)}"
    if rule.shape is not None and not rule.shape(value):
        return f"must be {rule.described}, got {_show(value)}"
    if numeric and not _in_range(value, rule):
        return f"must be {_range(rule)}{_or_word(rule)}, got {_show(value)}"
    return ""


def _in_range(value: float, rule: Rule) -> bool:
    if rule.low is not None and (value < rule.low or (rule.above and value == rule.low)):
        return False
    return rule.high is None or value <= rule.high


def _range(rule: Rule) -> str:
    if rule.low is not None and rule.high is not None:
        return f"between {rule.low:g} and {rule.high:g}"
    if rule.low is not None:
        return f"> {rule.low:g}" if rule.above else f"at least {rule.low:g}"
    return f"at most {rule.high:g}"


def _type_wanted(base: type, rule: Rule) -> str:
    wanted = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[base]
    return f"must be {wanted}{_or_word(rule)}"


def _or_word(rule: Rule) -> str:
    return f', or "{rule.word}" ({rule.word_means})' if rule.word else ""


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)

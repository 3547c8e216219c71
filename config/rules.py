"""What each settings key accepts, and the one-line message when a value is refused.

A key's :class:`Rule` rides in its dataclass field's metadata (see :func:`setting`); a section
dataclass derived from :class:`Section` checks every field against its type and rule when it is
built, so a file, an override and Python code are refused the same way.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast, get_args, get_origin, get_type_hints


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


def setting(default: Any, **rule: Any) -> Any:
    """A settings field with its :class:`Rule`; a list or table default is copied for each instance."""
    metadata = {"rule": Rule(**rule)}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _is_address(text: str, paths: tuple[str, ...], any_port: bool) -> bool:
    """``tcp://HOST:PORT`` (``*`` for the port if ``any_port``), or a scheme of ``paths`` with a path."""
    scheme, separator, address = text.partition("://")
    if not separator or not address:
        return False
    if scheme in paths:
        return True
    host, colon, port = address.rpartition(":")
    in_range = port.isdigit() and 1 <= int(port) <= 65535
    return scheme == "tcp" and bool(colon and host) and (in_range or (any_port and port == "*"))


def _is_host_port(text: str) -> bool:
    host, colon, port = text.rpartition(":")
    return bool(colon and host.strip("[]")) and port.isdigit() and 1 <= int(port) <= 65535


ENDPOINT = {
    "shape": lambda text: _is_address(text, ("ipc", "inproc"), any_port=True),
    "described": "tcp://HOST:PORT (port 1-65535), ipc://PATH or inproc://NAME",
}
WYOMING_URI = {
    "shape": lambda text: _is_address(text, ("unix",), any_port=False),
    "described": "tcp://HOST:PORT (port 1-65535) or unix://PATH",
}
HOST_PORT = {"shape": _is_host_port, "described": "HOST:PORT (port 1-65535; [ADDRESS]:PORT for IPv6)"}
POSITIVE = {"low": 0, "above": True}
PORT = {"low": 1, "high": 65535}
VOICE_OWN = {"word": "voice", "word_means": "the voice's own value"}


class Section:
    """Checks every field of a settings section against its type and rule on construction."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for item in dataclasses.fields(self):  # type: ignore[arg-type]  # every Section subclass is a dataclass
            problem = _problem(getattr(self, item.name), hints[item.name], rule_of(item))
            if problem:
                raise ConfigError(problem, f"{self.section}.{item.name}")


def rule_of(item: dataclasses.Field[Any]) -> Rule:
    rule = item.metadata.get("rule")
    return rule if isinstance(rule, Rule) else Rule()


def base_type(hint: Any) -> type:
    """``int`` for ``int | None``; the hint itself otherwise."""
    if isinstance(hint, types.UnionType):
        return cast(type, next(arg for arg in get_args(hint) if arg is not type(None)))
    return cast(type, hint)


def _problem(value: Any, hint: Any, rule: Rule) -> str:
    """What is wrong with ``value`` for a key of type ``hint`` under ``rule``; empty when it is fine."""
    base = base_type(hint)
    if value is None and base is not hint:
        return ""
    if get_origin(base) in (list, dict):
        return _strings_problem(value, base)
    numeric = base in (int, float)
    if (
        isinstance(value, bool) != (base is bool)
        or (base is int and not isinstance(value, int))
        or (base is float and not isinstance(value, (int, float)))
        or (base is str and not isinstance(value, str))
    ):
        return f"{type_wanted(base, rule)}, got {_show(value)}"
    if base is float and (math.isnan(value) or (math.isinf(value) and not rule.infinite)):
        return f"must be a finite number{_or_word(rule)}, got {_show(value)}"
    if rule.choices and value not in rule.choices:
        return f"must be one of {', '.join(rule.choices)}, got {_show(value)}"
    if rule.shape is not None and not rule.shape(value):
        return f"must be {rule.described}, got {_show(value)}"
    if numeric and not _in_range(value, rule):
        return f"must be {_range(rule)}{_or_word(rule)}, got {_show(value)}"
    return ""


def _strings_problem(value: Any, base: Any) -> str:
    """A list of strings, or a table whose values are strings (the only containers settings hold)."""
    container = get_origin(base)
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, container) and all(isinstance(item, str) for item in items):
        return ""
    return f"{type_wanted(base, Rule())}, got {_show(value)}"


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


def type_wanted(base: type, rule: Rule) -> str:
    wanted = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list of strings",
        dict: "a table of strings",
    }[get_origin(base) or base]
    return f"must be {wanted}{_or_word(rule)}"


def _or_word(rule: Rule) -> str:
    return f', or "{rule.word}" ({rule.word_means})' if rule.word else ""


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)

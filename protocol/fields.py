"""Reading untrusted JSON objects into typed values, and writing records back to JSON.

Every message and every record inside one reads its fields through :class:`Fields`, whose
getters check the type and range of one field and raise :class:`ProtocolError` naming it.
Writing needs no per-class code: a :class:`Record` is a frozen dataclass whose fields are
JSON values, records, enums or tuples of those, and :meth:`Record.to_wire` maps them by name.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar, Final, Self, TypeVar, cast

from swtts.protocol.errors import ErrorCode, ProtocolError

MAX_ID_CHARS = 200
MAX_INDEX = 10_000_000

_REQUIRED: Final = object()
_ABSENT: Final = object()
_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)
_R = TypeVar("_R", bound="Record")


class Record:
    """Base of every frozen dataclass that travels as a JSON object; bad fields get ``ERROR_CODE``."""

    ERROR_CODE: ClassVar[ErrorCode] = ErrorCode.MALFORMED

    def to_wire(self) -> dict[str, Any]:
        return {name: _to_json(getattr(self, name)) for name in _field_names(cast(Any, type(self)))}

    @classmethod
    def read(cls, fields: Fields) -> Self:
        """Build one from validated fields; each subclass says which and how."""
        raise NotImplementedError

    @classmethod
    def from_wire(cls, data: Any, where: str | None = None) -> Self:
        return cls.read(Fields(data, where or cls.__name__, code=cls.ERROR_CODE))


@functools.cache
def _field_names(kind: Any) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_wire()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    return value


@dataclasses.dataclass
class _Context:
    """What is known so far about which request (and chunk) a message is about."""

    request_id: str | None = None
    index: int | None = None


class Fields:
    """Typed getters over one untrusted JSON object (and the message's payload, if any).

    A getter's ``default`` is used when the field is absent; ``null`` is only accepted by the
    ``optional_`` getters. ``code`` is the error code of a bad field (``malformed`` unless the
    object holds request parameters).
    """

    def __init__(
        self,
        data: Any,
        where: str,
        payload: bytes | None = None,
        code: ErrorCode = ErrorCode.MALFORMED,
        context: _Context | None = None,
    ) -> None:
        self.where = where
        self.payload = payload
        self.code = code
        self._context = context or _Context()
        if not isinstance(data, dict):
            raise self._error_at(f"{where} must be a JSON object, got {_show(data)}", None, code)
        self._data: dict[str, Any] = data

    def with_code(self, code: ErrorCode) -> Fields:
        """The same fields, with bad ones reported under ``code``."""
        return Fields(self._data, self.where, self.payload, code, self._context)

    def keys(self) -> set[str]:
        return set(self._data)

    def error(self, name: str, problem: str, code: ErrorCode | None = None) -> ProtocolError:
        """An error about field ``name`` that carries what is known about the request."""
        return self._error_at(f"{self.where}: {name} {problem}", name, code or self.code)

    def _error_at(self, message: str, name: str | None, code: ErrorCode) -> ProtocolError:
        context = self._context
        return ProtocolError(code, message, field=name, request_id=context.request_id, index=context.index)

    def _get(self, name: str, default: Any) -> Any:
        value = self._data.get(name, _ABSENT)
        if value is not _ABSENT:
            return value
        if default is _REQUIRED:
            raise self.error(name, "is required")
        return default

    def _checked(self, name: str, value: Any, valid: bool, expected: str) -> Any:
        if not valid:
            raise self.error(name, f"must be {expected}, got {_show(value)}")
        return value

    # ----- identity ---------------------------------------------------------------------------

    def request_id(self, name: str = "request_id") -> str:
        """The request's id; later errors in this message name it."""
        value = self.text(name, max_chars=MAX_ID_CHARS)
        self._context.request_id = value
        return value

    def chunk_index(self, name: str = "index") -> int:
        """A chunk's position in its request; later errors in this message name it."""
        value = self.integer(name, 0, MAX_INDEX)
        self._context.index = value
        return value

    # ----- scalars ----------------------------------------------------------------------------

    def text(self, name: str, default: Any = _REQUIRED, *, allow_empty: bool = False, max_chars: int = 0) -> str:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return cast(str, value)
        what = "a string" if allow_empty else "a non-empty string"
        valid = isinstance(value, str) and (allow_empty or bool(value)) and (not max_chars or len(value) <= max_chars)
        return cast(
            str, self._checked(name, value, valid, what + (f" of at most {max_chars} characters" * bool(max_chars)))
        )

    def optional_text(self, name: str, *, allow_empty: bool = True, max_chars: int = 0) -> str | None:
        if self._data.get(name) is None:
            return None
        return self.text(name, allow_empty=allow_empty, max_chars=max_chars)

    def integer(self, name: str, low: int, high: int, default: Any = _REQUIRED) -> int:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return cast(int, value)
        valid = type(value) is int and low <= value <= high
        return cast(int, self._checked(name, value, valid, f"an integer in [{low}, {high}]"))

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        return None if self._data.get(name) is None else self.integer(name, low, high)

    def number(self, name: str, low: float, high: float, default: Any = _REQUIRED, *, low_open: bool = False) -> float:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return cast(float, value)
        numeric = type(value) is int or (type(value) is float and math.isfinite(value))
        valid = numeric and (low < value if low_open else low <= value) and value <= high
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        return float(self._checked(name, value, valid, f"a finite number in {bounds}"))

    def optional_number(self, name: str, low: float, high: float, *, low_open: bool = False) -> float | None:
        return None if self._data.get(name) is None else self.number(name, low, high, low_open=low_open)

    def flag(self, name: str, default: Any = _REQUIRED) -> bool:
        value = self._get(name, default)
        return cast(bool, self._checked(name, value, isinstance(value, bool), "true or false"))

    def choice(self, name: str, kind: type[_E]) -> _E:
        value = self._get(name, _REQUIRED)
        allowed = [member.value for member in kind]
        self._checked(name, value, isinstance(value, str) and value in allowed, f"one of {allowed}")
        return kind(value)

    # ----- collections ------------------------------------------------------------------------

    def _items(self, name: str, default: Any, check: Callable[[Any], bool], expected: str) -> tuple[Any, ...]:
        value = self._get(name, default)
        valid = isinstance(value, (list, tuple)) and all(check(item) for item in value)
        return tuple(self._checked(name, value, valid, f"a list of {expected}"))

    def integers(self, name: str, low: int, high: int, default: Any = _REQUIRED) -> tuple[int, ...]:
        return self._items(name, default, lambda n: type(n) is int and low <= n <= high, f"integers in [{low}, {high}]")

    def integer_rows(
        self, name: str, width: int, low: int, high: int, default: Any = _REQUIRED
    ) -> tuple[tuple[int, ...], ...]:
        """A list of lists of ``width`` integers in [low, high] each (compact tables: word timings)."""
        rows = self._items(
            name,
            default,
            lambda row: (
                isinstance(row, list) and len(row) == width and all(type(n) is int and low <= n <= high for n in row)
            ),
            f"lists of {width} integers in [{low}, {high}]",
        )
        return tuple(tuple(row) for row in rows)

    def texts(self, name: str, default: Any = _REQUIRED) -> tuple[str, ...]:
        return self._items(name, default, lambda s: isinstance(s, str), "strings")

    def int_map(self, name: str, low: int, high: int, default: Any = _REQUIRED) -> dict[str, int]:
        value = self._get(name, default)
        valid = isinstance(value, dict) and all(type(n) is int and low <= n <= high for n in value.values())
        return dict(self._checked(name, value, valid, f"an object of integers in [{low}, {high}]"))

    def record(self, name: str, kind: type[_R], default: Any = _REQUIRED) -> _R:
        value = self._get(name, default)
        if value is default and default is not _REQUIRED:
            return cast(_R, value)
        return kind.read(Fields(value, f"{self.where}.{name}", code=kind.ERROR_CODE, context=self._context))

    def optional_record(self, name: str, kind: type[_R]) -> _R | None:
        return None if self._data.get(name) is None else self.record(name, kind)

    def records(self, name: str, kind: type[_R]) -> tuple[_R, ...]:
        items = self._items(name, _REQUIRED, lambda _: True, "objects")
        where = f"{self.where}.{name}"
        return tuple(
            kind.read(Fields(item, f"{where}[{i}]", code=kind.ERROR_CODE, context=self._context))
            for i, item in enumerate(items)
        )

    # ----- payload ----------------------------------------------------------------------------

    def text_payload(self, required: bool) -> str | None:
        """The payload as strict UTF-8 text; None when there is no payload frame and none is required."""
        if self.payload is None:
            if required:
                raise self._error_at(f"{self.where}: the text frame is missing", "text", ErrorCode.MALFORMED)
            return None
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = self.payload[exc.start]
            raise self._error_at(
                f"text is not valid UTF-8: byte 0x{bad:02x} at offset {exc.start}", "text", ErrorCode.BAD_UTF8
            ) from None

    def pcm_payload(self, frame_bytes: int) -> bytes:
        """The payload as PCM: present, and a whole number of ``frame_bytes``-byte frames."""
        if self.payload is None:
            raise self._error_at(f"{self.where}: the audio frame is missing", "pcm", ErrorCode.MALFORMED)
        if len(self.payload) % frame_bytes:
            raise self._error_at(
                f"{self.where}: {len(self.payload)} bytes of audio are not a whole number of {frame_bytes}-byte frames",
                "pcm",
                ErrorCode.MALFORMED,
            )
        return self.payload


def _show(value: Any, limit: int = 60) -> str:
    """A short repr for error messages: a hostile value must not make a huge one."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""What a request may ask of the voice, and what text may be spoken: the rules both ends apply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Self

from swtts.protocol.errors import ErrorCode, ProtocolError
from swtts.protocol.fields import Fields, Record


@dataclass(frozen=True)
class SynthesisParams(Record):
    """Per-request synthesis parameters; ``None`` scales mean the voice's own values."""

    ERROR_CODE: ClassVar[ErrorCode] = ErrorCode.BAD_PARAM

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    speaker: int = 0
    volume: float = 1.0
    loudness_dbfs: float = -20.0

    @classmethod
    def read(cls, fields: Fields) -> Self:
        """Validate untrusted parameters, naming the first bad (or unknown) one."""
        unknown = sorted(fields.keys() - set(cls.__dataclass_fields__))
        if unknown:
            raise fields.error(", ".join(unknown), "is not a known parameter")
        return cls(
            length_scale=fields.optional_number("length_scale", 0.05, 20.0),
            noise_scale=fields.optional_number("noise_scale", 0.0, 5.0),
            noise_w=fields.optional_number("noise_w", 0.0, 5.0),
            speaker=fields.integer("speaker", 0, 1_000_000, 0),
            volume=fields.number("volume", 0.0, 10.0, 1.0),
            loudness_dbfs=fields.number("loudness_dbfs", -60.0, 0.0, -20.0),
        )


_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def check_text(text: str, max_chars: int) -> str:
    """Reject text that cannot be spoken sensibly, saying exactly why."""
    if len(text) > max_chars:
        raise ProtocolError(ErrorCode.TOO_LONG, f"text has {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        raise ProtocolError(ErrorCode.EMPTY_TEXT, "text is empty or only whitespace")
    bad = _CONTROL_CHARS.search(text)
    if bad is not None:
        raise ProtocolError(
            ErrorCode.CONTROL_CHARS,
            f"text contains control character U+{ord(bad.group()):04X} at position {bad.start()}",
        )
    return text

"""How to normalize: the choices a caller (config, request) makes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_MARKUP", "DEFAULT_OPTIONS", "MarkupOptions", "NormalizeOptions"]


@dataclass(frozen=True)
class MarkupOptions:
    """Whether code is read: spans plainly by default, blocks (fenced, indented) skipped."""

    read_code_spans: bool = True
    read_code_blocks: bool = False


@dataclass(frozen=True)
class NormalizeOptions:
    """``markup`` False skips the markup pass (text known to be plain)."""

    markup: bool = True
    markup_options: MarkupOptions = field(default_factory=MarkupOptions)


DEFAULT_MARKUP = MarkupOptions()
DEFAULT_OPTIONS = NormalizeOptions()

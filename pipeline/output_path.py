"""Output paths, checked before any synthesis with nothing heavier than the standard library.

``swtts say`` checks its output here before it starts its workers, so an output it could not
write fails at once, naming the path the user gave; the writers in :mod:`assembly` make their
temporary file the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


class OutputError(ValueError):
    """The output path or what was written to it is not right."""


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """An extension we can write, an existing folder, not a directory itself."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise OutputError(f"cannot write {target}: use one of {', '.join(FORMATS)} (or '-' for raw PCM)")
    if not target.parent.exists():
        raise OutputError(f"cannot write {target}: folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {target}: {target.parent} is not a folder")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    return target


def temporary_beside(target: Path) -> Path:
    """A new hidden file in ``target``'s folder (renamed onto it once written); errors name ``target``."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(handle)
    return Path(name)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """:func:`check_output_path`, and a file can really be made there (permissions, read-only mounts)."""
    target = check_output_path(path)
    temporary_beside(target).unlink()
    return target

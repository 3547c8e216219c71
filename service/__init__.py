"""Running the service: ``swtts serve`` (:class:`Supervisor`) and a disposable :class:`EmbeddedService`.

Names are imported on first use: :mod:`swtts.service.pool` must stay light to import, so that
``swtts say`` can start its workers before it pays for the broker's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swtts.service.embedded import EmbeddedService
    from swtts.service.pool import threads_per_worker, worker_command
    from swtts.service.supervisor import Supervisor

_EXPORTS = {
    "EmbeddedService": "swtts.service.embedded",
    "Supervisor": "swtts.service.supervisor",
    "threads_per_worker": "swtts.service.pool",
    "worker_command": "swtts.service.pool",
}

__all__ = ["EmbeddedService", "Supervisor", "threads_per_worker", "worker_command"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swtts.service' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

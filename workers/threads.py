"""Work started on a thread of its own, its result (or its error) taken later, where it is needed.

A cold start overlaps what lets go of the GIL (onnxruntime opening a voice, hashlib hashing
it) with the imports and set-up that hold it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")

__all__ = ["in_thread"]


def in_thread(name: str, work: Callable[..., T], *args: object) -> Future[T]:
    """``work(*args)`` running now on a daemon thread (an exit never waits for it); ``result()`` re-raises its error."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # re-raised by result(), on the thread that needs the value
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future

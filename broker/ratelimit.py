"""Warnings about peers, rate-limited: a flood of bad messages must not become a flood of log lines.

Time runs in windows of ``interval_s``. In each, the first warning about a peer is logged and
the rest are only counted, and at most ``budget`` lines are logged in all (so a flood from
thousands of sockets is bounded too). When a window ends, one line says how many warnings it
suppressed and from how many peers.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

LOGGER = logging.getLogger(__name__)

INTERVAL_S = 10.0
BUDGET = 20


class RateLimitedLog:
    """One warning per peer per window, ``budget`` lines per window in all, then a count."""

    def __init__(
        self, interval_s: float = INTERVAL_S, budget: int = BUDGET, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = interval_s
        self.budget = budget
        self._clock = clock
        self._window = clock()
        self._logged: set[bytes] = set()
        self._suppressed: Counter[bytes] = Counter()

    def warning(self, peer: bytes, logger: logging.Logger, message: str, *args: object) -> None:
        """Log ``message`` about ``peer`` unless this window has already spoken of it (or spent its budget)."""
        self.flush()
        if peer in self._logged or len(self._logged) >= self.budget:
            self._suppressed[peer] += 1
            return
        self._logged.add(peer)
        logger.warning(message, *args)

    def flush(self) -> None:
        """End the window once it is over, with one line counting what it suppressed."""
        now = self._clock()
        if now - self._window < self.interval_s:
            return
        if self._suppressed:
            LOGGER.warning(
                "%d more warning(s) about %d peer(s) suppressed in the last %.0f s",
                sum(self._suppressed.values()),
                len(self._suppressed),
                now - self._window,
            )
        self._window = now
        self._logged.clear()
        self._suppressed.clear()

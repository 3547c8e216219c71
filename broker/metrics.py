"""Prometheus metrics of the broker, kept in a registry of its own.

The scheduler records events here; when ``[metrics] enabled`` is set the broker serves the
registry over HTTP (loopback by default) for Prometheus to scrape. With metrics off nothing
reads them, so they record nothing and ``prometheus_client`` (a tenth of a second to import,
most of it its HTTP server) is never imported: a one-shot ``swtts say`` does not pay for it.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class _Off:
    """A metric that records nothing: what every metric is while metrics are off."""

    def labels(self, *values: str) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None:
        """Nothing to count."""

    def observe(self, value: float) -> None:
        """Nothing to observe."""

    def set(self, value: float) -> None:
        """Nothing to set."""

    def clear(self) -> None:
        """Nothing to clear."""


class Metrics:
    """Every metric the broker exports; one instance per broker process (``enabled=False``: all off)."""

    requests: Any
    chunks: Any
    request_latency: Any
    first_audio: Any
    stage_seconds: Any
    queue_depth: Any
    active_requests: Any
    workers: Any
    cache_events: Any
    cache_bytes: Any
    cache_evictions: Any
    audio_seconds: Any

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        if not enabled:
            for name in self.__annotations__:
                setattr(self, name, _Off())
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("swtts_requests", "Requests by outcome", ["outcome"], registry=r)
        self.chunks = Counter(
            "swtts_chunks",
            "Chunks by outcome (synthesized, cached, failed, requeued, overdue, dropped)",
            ["outcome"],
            registry=r,
        )
        self.request_latency = Histogram(
            "swtts_request_latency_seconds", "Submit to done", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.first_audio = Histogram(
            "swtts_time_to_first_audio_seconds",
            "Submit to first audio chunk sent",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "swtts_stage_seconds",
            "Per-chunk time by stage (queue_wait, synthesis, assembly)",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("swtts_queue_chunks", "Chunks waiting for a worker", registry=r)
        self.active_requests = Gauge("swtts_active_requests", "Requests in progress", registry=r)
        self.workers = Gauge(
            "swtts_workers", "Workers by state (ready, busy, stalled, dead) and device", ["state", "device"], registry=r
        )
        self.cache_events = Counter("swtts_cache", "Cache lookups by result (hit, miss)", ["result"], registry=r)
        self.cache_bytes = Gauge("swtts_cache_bytes", "Compressed bytes stored in the cache", registry=r)
        self.cache_evictions = Gauge("swtts_cache_evictions", "Entries evicted from the cache", registry=r)
        self.audio_seconds = Counter("swtts_audio_seconds", "Seconds of audio produced", registry=r)

    @property
    def registries(self) -> list[Any]:
        """What there is to expose: this registry, or nothing when the metrics are off."""
        return [self.registry] if self.enabled else []

    def serve(self, host: str, port: int) -> None:
        """Expose the registry over HTTP from a daemon thread; OSError naming the address if it cannot."""
        from prometheus_client import start_http_server

        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on http://{host}:{port}: {exc.strerror}") from None
        LOGGER.info("metrics on http://%s:%d/metrics", host, port)

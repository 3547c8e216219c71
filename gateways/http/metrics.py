"""Prometheus metrics of the HTTP gateway, in a registry of its own (served beside the broker's)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class HttpMetrics:
    """Every metric the gateway exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "swtts_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "swtts_http_request_seconds", "Request to the end of the response", ["route"], buckets=_BUCKETS, registry=r
        )
        self.first_audio = Histogram(
            "swtts_http_first_audio_seconds",
            "Speech request to its first audio bytes, by format",
            ["format"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.streams = Gauge("swtts_http_active_streams", "Speech responses streaming now", registry=r)
        self.disconnects = Counter(
            "swtts_http_disconnects", "Speech streams whose client left before the end (cancelled)", registry=r
        )
        self.encode_seconds = Counter(
            "swtts_http_encode_seconds", "Time spent encoding audio, by format", ["format"], registry=r
        )
        self.audio_seconds = Counter(
            "swtts_http_audio_seconds", "Seconds of audio sent, by format", ["format"], registry=r
        )


class MetricsMiddleware:
    """Counts every request by matched route and status, and times it to the last body byte."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = _route_of(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.duration.labels(route).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    """The matched route's path template; unmatched paths share one label (bounded cardinality)."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))

"""The ASGI application: OpenAI's speech routes, voices and models, health, metrics and the page.

The API's docs (Swagger UI at /docs) load their scripts from this server, not from a CDN, so
they work offline; /openapi.json is the spec. ReDoc is not served: it fetches its logo from afar.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException

from swtts.client import TTSError, VoiceDescription
from swtts.config import Settings
from swtts.gateways.http.auth import key_accepted
from swtts.gateways.http.backend import SpeechBackend
from swtts.gateways.http.errors import ApiError, api_error_handler, http_error_handler, validation_error_handler
from swtts.gateways.http.limits import BodyLimitMiddleware
from swtts.gateways.http.metrics import HttpMetrics, MetricsMiddleware
from swtts.gateways.http.speech import SpeechRequest, SpeechService
from swtts.gateways.http.voices import OPENAI_VOICES

STATIC = Path(str(resources.files("swtts.gateways.http").joinpath("static")))


def create_app(
    settings: Settings,
    backend: SpeechBackend,
    keys: tuple[str, ...] = (),
    registries: Sequence[CollectorRegistry] = (),
) -> FastAPI:
    """The gateway's app over ``backend``; ``registries`` are served at /metrics beside its own."""
    metrics = HttpMetrics()
    speech = SpeechService(backend, settings, metrics)
    app = FastAPIOffline(
        redoc_url=None,
        title="swtts speech API",
        description="OpenAI-compatible text to speech over the swtts broker and its Piper workers.",
        version="1",
    )
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.http.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics

    def require_key(request: Request) -> None:
        if keys and not key_accepted(request.headers.get("authorization"), keys):
            raise ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)", "invalid_api_key")

    authorized = [Depends(require_key)]

    @app.post("/v1/audio/speech", dependencies=authorized, response_class=Response, tags=["speech"])
    async def create_speech(request: SpeechRequest) -> Response:
        """Speak ``input``; the audio streams in ``response_format`` as it is produced."""
        return await speech.create(request)

    @app.get("/v1/models", dependencies=authorized, tags=["speech"])
    async def list_models() -> dict[str, Any]:
        models = sorted(speech.models)
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "swtts"} for m in models],
        }

    @app.get("/v1/audio/voices", dependencies=authorized, tags=["speech"])
    async def list_voices() -> dict[str, Any]:
        """The workers' voices, then OpenAI's names with the voice each speaks with."""
        voices = [
            {"id": v.name, "name": v.name, "language": v.language, "sample_rate": v.sample_rate, "workers": v.workers}
            for v in await _voices(backend)
        ]
        mapping = {name.lower(): voice for name, voice in settings.http.voice_map.items()}
        aliases = [{"id": n, "name": f"{n} ({mapping.get(n) or 'default voice'})"} for n in OPENAI_VOICES]
        return {"voices": voices + aliases}

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Live: the gateway answers (the broker is not asked)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"])
    async def ready() -> JSONResponse:
        """Ready: the broker answers and at least one worker is connected."""
        try:
            voices = await backend.voices(fresh=True)
        except TTSError as exc:
            return JSONResponse({"status": "unavailable", "reason": exc.message}, status_code=503)
        workers = sum(voice.workers for voice in voices)
        body = {"status": "ready" if workers else "no_worker", "workers": workers, "voices": [v.name for v in voices]}
        return JSONResponse(body, status_code=200 if workers else 503)

    @app.get("/metrics", dependencies=authorized, tags=["service"])
    async def prometheus() -> Response:
        text = b"".join(generate_latest(r) for r in (metrics.registry, *registries))
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _voices(backend: SpeechBackend) -> list[VoiceDescription]:
    try:
        return await backend.voices()
    except TTSError as exc:
        raise ApiError(503, f"the speech service is unavailable: {exc.message}", "unavailable") from None

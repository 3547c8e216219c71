"""OpenAI-compatible speech API over HTTP (``POST /v1/audio/speech``), with a page to try it."""

from swtts.gateways.http.app import create_app
from swtts.gateways.http.server import HttpThread, parse_bind, run_gateway

__all__ = ["HttpThread", "create_app", "parse_bind", "run_gateway"]

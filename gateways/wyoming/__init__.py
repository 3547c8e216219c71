"""Wyoming TTS server (Home Assistant, voice satellites) over the async client."""

from swtts.gateways.wyoming.server import GatewayError, GatewayThread, WyomingGateway, check_uri, run_gateway

__all__ = ["GatewayError", "GatewayThread", "WyomingGateway", "check_uri", "run_gateway"]

"""Gateways: servers that speak other ecosystems' protocols (HTTP/OpenAI, Wyoming) over the client."""

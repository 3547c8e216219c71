"""Gateways: servers that speak other ecosystems' protocols (Wyoming, OpenAI's HTTP speech API) over the async client."""

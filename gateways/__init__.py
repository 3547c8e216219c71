"""Servers that let other ecosystems' clients speak through swtts, each a thin layer over the async client."""

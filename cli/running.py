"""Whether a running service answers on the configured endpoint: found, or ruled out, in milliseconds.

``swtts say`` asks before it starts an embedded service. Where nothing listens (the usual
case) the answer must cost nothing: a loopback TCP port that refuses a plain connection, or an
ipc:// path that does not exist, rules the service out at once, before zmq is even imported.
Where something listens, a ping with a short timeout says whether it is a broker with a worker
holding the voice wanted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from urllib.parse import urlsplit

from swtts.config import Settings

LOGGER = logging.getLogger(__name__)

PING_TIMEOUT_S = 0.25
"""How long a listening endpoint has to answer a ping (a local broker answers in about a millisecond)."""

_CONNECT_TIMEOUT_S = 0.05


def running_service(settings: Settings) -> str | None:
    """The configured endpoint if a broker there has a worker holding the configured voice, else None."""
    endpoint = settings.service.endpoint
    if not _something_listens(endpoint):
        return None
    from swtts.client import Client, TTSError
    from swtts.protocol import voice_name

    voice = voice_name(settings.voice.model)
    with Client(endpoint, settings) as client:
        try:
            reply = client.ping(timeout_s=PING_TIMEOUT_S)
        except TTSError as exc:
            LOGGER.info("%s does not answer as a broker (%s)", endpoint, exc)
            return None
    if reply.workers == 0:
        LOGGER.info("the service at %s has no worker", endpoint)
        return None
    if voice not in reply.voices:
        LOGGER.info("the service at %s has no worker with voice %s (it has %s)", endpoint, voice, reply.voices)
        return None
    return endpoint


def _something_listens(endpoint: str) -> bool:
    """False when the endpoint surely has no listener; True when it may have one."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "ipc":
        return os.path.exists(rest)
    if scheme != "tcp":
        return False  # inproc:// is private to a process: nothing running elsewhere can be there
    parts = urlsplit(f"//{rest}")
    host, port = parts.hostname or "", parts.port
    if port is None or not _loopback(host):
        return True  # a remote service: only the ping can tell
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False

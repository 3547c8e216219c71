"""CURVE on a peer's side: the keys a producer's or worker's DEALER presents to the broker.

Shared by the client and the workers, so it sits below both; the broker's side (the server
key, the allow-list, key generation) is :mod:`swtts.broker.security`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zmq
import zmq.auth

from swtts.config import SecuritySettings


class SecurityError(RuntimeError):
    """Keys are missing or a non-loopback bind was attempted without them."""


def is_loopback(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp endpoints on 127.0.0.0/8, ::1 or localhost."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = urlsplit(f"//{rest}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_client(socket: zmq.Socket[Any], keys: SecuritySettings) -> None:
    """Set a producer's or worker's CURVE keys when the config names a server key."""
    if not keys.server_public:
        return
    if not keys.client_secret:
        raise SecurityError("security.server_public is set but security.client_secret is empty")
    server_public, _ = zmq.auth.load_certificate(str(Path(keys.server_public).expanduser()))
    public, secret = load_pair(keys.client_secret)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_public


def load_pair(path: str) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(str(Path(path).expanduser()))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read CURVE key file {path}: {exc}") from None
    if secret is None:
        raise SecurityError(f"{path} holds no secret key (use the .key_secret file)")
    return public, secret

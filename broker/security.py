"""CURVE on the broker's side: key generation and the server socket's authentication.

The broker binds loopback without keys; any other address requires CURVE so only producers
and workers whose public keys sit in the allowed directory can connect. The peers' side
(loading keys onto a DEALER) is :mod:`swtts.protocol.curve`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from swtts.config import SecuritySettings
from swtts.protocol.curve import SecurityError, is_loopback, load_pair

LOGGER = logging.getLogger(__name__)


def generate_keys(directory: Path, names: list[str]) -> list[Path]:
    """Create ``NAME.key`` (public) and ``NAME.key_secret`` pairs; public keys also go to ``allowed/``."""
    directory.mkdir(parents=True, exist_ok=True)
    allowed = directory / "allowed"
    allowed.mkdir(exist_ok=True)
    written: list[Path] = []
    for name in names:
        public, secret = zmq.auth.create_certificates(str(directory), name)
        Path(secret).chmod(0o600)
        if name != "server":
            shutil.copy(public, allowed / Path(public).name)
        written.extend([Path(public), Path(secret)])
    return written


def secure_server(
    context: zmq.Context[zmq.Socket[bytes]], socket: zmq.Socket[bytes], endpoint: str, keys: SecuritySettings
) -> ThreadAuthenticator | None:
    """Turn on CURVE for the broker socket when keys are configured; refuse open non-loopback binds."""
    if not keys.server_secret:
        if not is_loopback(endpoint):
            raise SecurityError(
                f"refusing to bind {endpoint} without CURVE keys: set security.server_secret and "
                "security.allowed_clients (make them with `swtts keys DIR`), or bind 127.0.0.1"
            )
        return None
    if not keys.allowed_clients:
        raise SecurityError("security.server_secret is set but security.allowed_clients is empty")
    public, secret = load_pair(keys.server_secret)
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(Path(keys.allowed_clients).expanduser()))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    LOGGER.info("CURVE enabled; allowed client keys from %s", keys.allowed_clients)
    return authenticator


__all__ = ["SecurityError", "generate_keys", "is_loopback", "secure_server"]

"""CURVE authentication: key generation, and applying keys to broker and peer sockets.

The broker binds loopback without keys; any other address requires CURVE so only producers
and workers whose public keys sit in the allowed directory can connect.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from swtts.config import SecuritySettings

LOGGER = logging.getLogger(__name__)


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
    context: zmq.Context, socket: zmq.Socket, endpoint: str, keys: SecuritySettings
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
    public, secret = _load_pair(keys.server_secret)
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(Path(keys.allowed_clients).expanduser()))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    LOGGER.info("CURVE enabled; allowed client keys from %s", keys.allowed_clients)
    return authenticator


def secure_client(socket: zmq.Socket, keys: SecuritySettings) -> None:
    """Set a producer's or worker's CURVE keys when the config names a server key."""
    if not keys.server_public:
        return
    if not keys.client_secret:
        raise SecurityError("security.server_public is set but security.client_secret is empty")
    server_public, _ = zmq.auth.load_certificate(str(Path(keys.server_public).expanduser()))
    public, secret = _load_pair(keys.client_secret)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_public


def _load_pair(path: str) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(str(Path(path).expanduser()))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read CURVE key file {path}: {exc}") from None
    if secret is None:
        raise SecurityError(f"{path} holds no secret key (use the .key_secret file)")
    return public, secret

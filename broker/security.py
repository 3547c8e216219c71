"""CURVE on the broker's side: key generation and the server socket's authentication.

The broker binds loopback without keys (every local process is then trusted); any other
address requires CURVE, and then only producers and workers whose public keys sit in the
allowed folders connect, each in its role (:mod:`swtts.broker.roles`). The peers' side
(loading keys onto a DEALER) is :mod:`swtts.protocol.curve`.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import zmq
import zmq.auth

if TYPE_CHECKING:  # imported when CURVE is on: it brings asyncio, which a loopback broker never needs
    from zmq.auth.thread import ThreadAuthenticator

from swtts.broker.roles import KeyFolder, PeerRoles, Role
from swtts.config import SecuritySettings
from swtts.protocol.curve import SecurityError, is_loopback, load_pair

LOGGER = logging.getLogger(__name__)

ALLOWED_FOLDERS = {Role.WORKER: Path("allowed") / "workers", Role.PRODUCER: Path("allowed") / "producers"}


class KeysExistError(SecurityError):
    """``swtts keys`` would overwrite key files that exist (and that deployed peers may be using)."""


def generate_keys(
    directory: Path, workers: list[str], producers: list[str], server: bool = True, force: bool = False
) -> list[Path]:
    """Make ``NAME.key`` (public) and ``NAME.key_secret`` pairs: the server's (when ``server``), each
    worker's and each producer's; each public key also goes to its role's allowed folder.

    Existing files are never replaced unless ``force``: a second run would otherwise cut off
    every worker and producer holding the old keys.
    """
    names = [*(["server"] if server else []), *dict.fromkeys([*workers, *producers])]
    targets = [directory / f"{name}{suffix}" for name in names for suffix in (".key", ".key_secret")]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not force:
        raise KeysExistError(
            f"refusing to overwrite existing keys: {', '.join(existing)} "
            "(--force replaces them; every peer using the old ones must then get the new ones)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in names:
        public, secret = zmq.auth.create_certificates(str(directory), name)
        Path(secret).chmod(0o600)
        written.extend([Path(public), Path(secret)])
        for role, members in ((Role.WORKER, workers), (Role.PRODUCER, producers)):
            if name in members:
                allowed = directory / ALLOWED_FOLDERS[role]
                allowed.mkdir(parents=True, exist_ok=True)
                written.append(Path(shutil.copy(public, allowed / Path(public).name)))
    return written


@dataclass
class Guard:
    """The broker's CURVE state: the ZAP thread and the roles of the keys it admits."""

    authenticator: ThreadAuthenticator
    roles: PeerRoles

    def stop(self) -> None:
        self.authenticator.stop()


def secure_server(
    context: zmq.Context[zmq.Socket[bytes]], socket: zmq.Socket[bytes], endpoint: str, keys: SecuritySettings
) -> Guard | None:
    """Turn on CURVE for the broker socket when keys are configured; refuse open non-loopback binds."""
    if not keys.server_secret:
        if not is_loopback(endpoint):
            raise SecurityError(
                f"refusing to bind {endpoint} without CURVE keys: set security.server_secret, "
                "security.allowed_workers and security.allowed_producers (make them with `swtts keys DIR`), "
                "or bind 127.0.0.1"
            )
        return None
    for name in ("allowed_workers", "allowed_producers"):
        if not getattr(keys, name):
            raise SecurityError(f"security.server_secret is set but security.{name} is empty")
    from zmq.auth.thread import ThreadAuthenticator

    public, secret = load_pair(keys.server_secret)
    roles = PeerRoles(
        KeyFolder(keys.allowed_workers, "security.allowed_workers"),
        KeyFolder(keys.allowed_producers, "security.allowed_producers"),
    )
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve_callback(domain="*", credentials_provider=roles)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    LOGGER.info(
        "CURVE enabled; workers' keys from %s, producers' from %s", keys.allowed_workers, keys.allowed_producers
    )
    return Guard(authenticator, roles)


def check_local_worker_key(keys: SecuritySettings) -> None:
    """With CURVE, local workers connect with ``client_secret``: it must be a worker's key."""
    if not keys.server_secret:
        return
    if not keys.client_secret or not keys.server_public:
        raise SecurityError(
            "local workers need security.client_secret (a worker's key) and security.server_public "
            "to join a broker with CURVE keys"
        )
    public, _ = load_pair(keys.client_secret)
    folder = KeyFolder(keys.allowed_workers, "security.allowed_workers")
    if public.decode("ascii") not in folder.keys:
        raise SecurityError(
            f"security.client_secret ({keys.client_secret}) is not a worker's key: its public key is not in "
            f"security.allowed_workers ({keys.allowed_workers}), so the local workers would be refused"
        )


__all__ = ["Guard", "KeysExistError", "SecurityError", "check_local_worker_key", "generate_keys", "secure_server"]

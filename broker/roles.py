"""Who may do what: workers and producers are different principals.

With CURVE the broker knows every peer by its public key (the ZAP handshake checks it, and
each received message carries it as its ``User-Id``). A key in the workers' folder may act as
a worker (READY, RESULT, FAILED, HEARTBEAT, DISCONNECT), a key in the producers' folder may
send requests and questions; a key in both may do both, a key in neither never gets past the
handshake. So a producer cannot pose as a worker and feed audio into everyone's cache, and a
worker cannot submit work. Without CURVE (loopback only) every peer holds both roles.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum
from pathlib import Path

import zmq.auth

from swtts.protocol import Disconnect, ErrorCode, Failed, Heartbeat, Message, ProtocolError, Ready, Result
from swtts.protocol.curve import SecurityError

LOGGER = logging.getLogger(__name__)


class Role(StrEnum):
    WORKER = "worker"
    PRODUCER = "producer"


_WORKER_MESSAGES = (Ready, Result, Failed, Heartbeat, Disconnect)
_RECHECK_S = 1.0


def required_role(message: Message) -> Role:
    """The role a peer must hold to send ``message``."""
    return Role.WORKER if isinstance(message, _WORKER_MESSAGES) else Role.PRODUCER


class KeyFolder:
    """The public keys in one folder, read again whenever the folder changes (so a key added or
    removed takes effect at the next handshake and message, without a restart)."""

    def __init__(self, folder: str, key: str) -> None:
        self.path = Path(folder).expanduser()
        self.key = key
        self._seen: int | None = None
        self._checked = float("-inf")
        self.keys: frozenset[str] = frozenset()
        if not self.path.is_dir():
            raise SecurityError(f"{key}: no folder at {self.path} (make the keys with `swtts keys DIR`)")
        self.refresh()
        if not self.keys:
            LOGGER.warning("%s: %s holds no public key (*.key); nobody can join in that role", key, self.path)

    def refresh(self) -> None:
        """Read the folder again if it changed (looked at no more than once a second)."""
        now = time.monotonic()
        if now - self._checked < _RECHECK_S:
            return
        self._checked = now
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            stamp = -1
        if stamp == self._seen:
            return
        self._seen = stamp
        try:
            found = zmq.auth.load_certificates(str(self.path))
        except (OSError, ValueError) as exc:
            LOGGER.warning(
                "%s: cannot read the keys in %s (%s); keeping the ones read before", self.key, self.path, exc
            )
            return
        self.keys = frozenset(key.decode("ascii") for key in found)


class PeerRoles:
    """The roles of each CURVE key; also the ZAP credentials provider that admits only known keys."""

    def __init__(self, workers: KeyFolder, producers: KeyFolder) -> None:
        self._folders = {Role.WORKER: workers, Role.PRODUCER: producers}
        self._lock = threading.Lock()  # ZAP calls come from the authenticator's thread

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: admit a key that holds any role (``key`` is z85 text as bytes)."""
        return bool(self.of(key.decode("ascii")))

    def of(self, user_id: str | None) -> frozenset[Role]:
        """The roles of the key a message came with (its z85 ``User-Id``)."""
        if user_id is None:
            return frozenset()
        with self._lock:
            for folder in self._folders.values():
                folder.refresh()
            return frozenset(role for role, folder in self._folders.items() if user_id in folder.keys)

    def check(self, user_id: str | None, message: Message) -> None:
        """Raise a FORBIDDEN ProtocolError when the sender's key does not hold the role ``message`` needs."""
        role = required_role(message)
        if role in self.of(user_id):
            return
        folder = self._folders[role]
        raise ProtocolError(
            ErrorCode.FORBIDDEN,
            f"{message.TYPE.value} refused: this peer's key is not allowed as a {role.value} "
            f"(its public key is not in {folder.key})",
            request_id=getattr(message, "request_id", None),
        )

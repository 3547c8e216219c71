"""The producer's DEALER socket: how both clients open one and send without ever blocking."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

import zmq

if TYPE_CHECKING:
    import zmq.asyncio  # the sync client must not pay for asyncio

from swtts.config import Settings
from swtts.protocol.curve import secure_client

LOGGER = logging.getLogger(__name__)
_Socket = TypeVar("_Socket", bound=zmq.Socket[Any])

RECEIVE_HWM = 16
"""Messages the socket takes in before the application reads them. Low, so a reader that is
slower than the broker (a player, a disk, a cached document arriving at once) holds the broker
back, and neither process queues the whole document."""


def dealer(context: zmq.Context[_Socket], endpoint: str, settings: Settings) -> _Socket:
    """A DEALER connected to the broker, with CURVE keys when the config names them."""
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
    socket.setsockopt(zmq.SNDHWM, 10_000)
    secure_client(socket, settings.security)
    socket.connect(endpoint)
    return socket


def send_nowait(socket: zmq.Socket[Any], frames: list[bytes]) -> None:
    """Send without blocking. A DEALER the broker refused (CURVE) has no pipe, so a blocking
    send would hang for good; a message dropped here is covered by the Lazy-Pirate timeout and
    retry, which replays the request on a fresh socket."""
    try:
        socket.send_multipart(frames, zmq.NOBLOCK)
    except zmq.Again:
        LOGGER.debug("no connection to the broker; a message is dropped (a retry replays it)")


async def send_nowait_async(socket: zmq.asyncio.Socket, frames: list[bytes]) -> None:
    """:func:`send_nowait` for an asyncio socket."""
    try:
        await socket.send_multipart(frames, zmq.NOBLOCK)
    except zmq.Again:
        LOGGER.debug("no connection to the broker; a message is dropped (a retry replays it)")

"""The producer's DEALER socket: how both clients open one and send without ever blocking."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import zmq
import zmq.asyncio

from swtts.config import Settings
from swtts.protocol.curve import secure_client

LOGGER = logging.getLogger(__name__)
_Socket = TypeVar("_Socket", bound=zmq.Socket[Any])


def dealer(context: zmq.Context[_Socket], endpoint: str, settings: Settings) -> _Socket:
    """A DEALER connected to the broker, with CURVE keys when the config names them."""
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 100_000)
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

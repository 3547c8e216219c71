"""The Wyoming server: binds the URI, serves each connection with a handler, optionally announces itself.

``swtts wyoming`` runs it in the main thread (:func:`run_gateway`) as a gateway process of its
own, next to any number of others on one broker; ``swtts serve --wyoming`` runs it on a thread
of the broker process with an event loop of its own (:class:`GatewayThread`). Either way it
reaches the broker through its own client, like any producer.

The protocol has neither authentication nor encryption, so a TCP address other than loopback
is refused unless ``[wyoming] allow_remote`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from wyoming.server import AsyncServer, AsyncTcpServer

from swtts.client import TTSError
from swtts.config import Settings
from swtts.gateways.wyoming.handler import WyomingHandler
from swtts.gateways.wyoming.speech import SpeechBackend
from swtts.gateways.wyoming.voices import VoiceCatalog

if TYPE_CHECKING:
    from wyoming.zeroconf import HomeAssistantZeroconf

LOGGER = logging.getLogger(__name__)
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class GatewayError(RuntimeError):
    """The Wyoming server cannot start as configured."""


def check_uri(uri: str, allow_remote: bool, zeroconf: bool = False) -> None:
    """Refuse a URI (its form checked as ``wyoming.uri``) the server should not bind, saying why in one line."""
    parsed = urlparse(uri)
    if parsed.scheme == "unix":
        if zeroconf:
            raise GatewayError("zeroconf announces a TCP port on the network; use a tcp:// URI")
        return
    loopback = _is_loopback(parsed.hostname or "")
    if not loopback and not allow_remote:
        raise GatewayError(
            f"Wyoming URI {uri!r} is reachable from other machines, and the Wyoming protocol has no "
            "authentication: set [wyoming] allow_remote = true in the config to allow it"
        )
    if zeroconf and loopback:
        raise GatewayError("zeroconf announces this server on the network; bind a LAN address (and allow_remote)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class WyomingGateway:
    """A Wyoming TTS server in front of the broker at ``broker_endpoint``, as ``settings.wyoming`` says."""

    def __init__(self, settings: Settings, broker_endpoint: str) -> None:
        self.settings = settings
        self.uri = settings.wyoming.uri
        self.zeroconf_name = settings.wyoming.zeroconf
        check_uri(self.uri, settings.wyoming.allow_remote, bool(self.zeroconf_name))
        self.backend = SpeechBackend(broker_endpoint, settings)
        self.catalog = VoiceCatalog(self.backend, settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = threading.Event()

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until :meth:`stop`; ``on_ready`` is called once the URI is bound."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = AsyncServer.from_uri(self.uri)
        try:
            await server.start(self._handler)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise GatewayError(f"cannot serve Wyoming on {self.uri}: {reason}") from None
        announcement: HomeAssistantZeroconf | None = None
        try:
            if self.zeroconf_name:
                announcement = await self._announce(server)
            LOGGER.info("Wyoming server on %s, speaking through %s", self.uri, self.backend.endpoint)
            if on_ready is not None:
                on_ready()
            await self._warn_if_no_broker()
            if not self._stop_requested.is_set():
                await self._stopping.wait()
        finally:
            if announcement is not None:
                await self._withdraw(announcement)
            await server.stop()

    def stop(self) -> None:
        """Stop serving; safe from any thread and from signal handlers."""
        self._stop_requested.set()
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._stopping.set)

    def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> WyomingHandler:
        max_chars = self.settings.service.max_text_chars
        return WyomingHandler(self.catalog, self.backend, self.settings.wyoming, max_chars, reader, writer)

    async def _announce(self, server: AsyncServer) -> HomeAssistantZeroconf:
        if not isinstance(server, AsyncTcpServer):
            raise GatewayError("zeroconf announces a TCP port on the network; use a tcp:// URI")
        try:
            from wyoming.zeroconf import HomeAssistantZeroconf
        except ImportError:
            raise GatewayError("--zeroconf needs the zeroconf package: pip install 'swtts[zeroconf]'") from None
        host = None if server.host in _WILDCARD_HOSTS else server.host  # None: the LAN address is detected
        announcement = HomeAssistantZeroconf(port=server.port, name=self.zeroconf_name, host=host)
        await announcement.register_server()
        LOGGER.info("announced over zeroconf as %s", self.zeroconf_name)
        return announcement

    async def _withdraw(self, announcement: HomeAssistantZeroconf) -> None:
        """Say goodbye over zeroconf, so listeners (Home Assistant) drop the server now rather
        than when their cached record expires. wyoming's helper registers but has no way to
        unregister: its zeroconf instance is closed here, which unregisters what it announced."""
        responder = getattr(announcement, "_aiozc", None)
        if responder is None:
            LOGGER.warning("zeroconf announcement of %s not withdrawn: wyoming's helper changed", self.zeroconf_name)
            return
        await responder.async_close()
        LOGGER.info("zeroconf announcement of %s withdrawn", self.zeroconf_name)

    async def _warn_if_no_broker(self) -> None:
        try:
            await self.catalog.voices()
        except TTSError as exc:
            LOGGER.warning("the broker does not answer yet (%s); Wyoming requests fail until it does", exc.message)


def run_gateway(gateway: WyomingGateway, on_ready: Callable[[], None] | None = None) -> None:
    """``swtts wyoming``: serve in this thread until SIGINT or SIGTERM."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, gateway.stop)
        await gateway.serve(on_ready)

    asyncio.run(main())


class GatewayThread:
    """``swtts serve --wyoming``: the gateway on a thread of the broker process, with its own loop."""

    def __init__(self, gateway: WyomingGateway) -> None:
        self.gateway = gateway
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wyoming-gateway", daemon=True)

    def start(self) -> None:
        """Start serving; raises the gateway's error if it cannot bind."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        self.gateway.stop()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            asyncio.run(self.gateway.serve(self._ready.set))
        except BaseException as exc:
            self._error = exc
            if self._ready.is_set():
                LOGGER.exception("the Wyoming server stopped")
        finally:
            self._ready.set()

"""Workers and producers are different principals: keys per role, and the broker holds each peer to its role.

Through real processes (``swtts keys``, ``swtts serve`` with CURVE, ``swtts worker``) and raw
ZeroMQ peers holding real keys.
"""

from __future__ import annotations

import asyncio
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
import zmq.auth

from swtts.client import AsyncClient, Client, InvalidRequestError, TTSError
from swtts.config import Settings, load_settings
from swtts.protocol import Done, Error, ErrorCode, Message, Ready, Result, Task, VoiceDescription
from swtts.service import EmbeddedService
from tests.helpers import START_TIMEOUT_S, Processes, Service, start_worker, wait_for
from tests.helpers import run_swtts as swtts
from tests.test_reliability import FAST, RawPeer, submit, write_config

pytestmark = pytest.mark.e2e


def test_keys_makes_a_pair_and_an_allow_list_per_role_and_never_overwrites(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = swtts("keys", str(keys))
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in keys.iterdir() if p.is_file()) == [
        "producer.key",
        "producer.key_secret",
        "server.key",
        "server.key_secret",
        "worker.key",
        "worker.key_secret",
    ]
    assert [p.name for p in (keys / "allowed" / "workers").iterdir()] == ["worker.key"]
    assert [p.name for p in (keys / "allowed" / "producers").iterdir()] == ["producer.key"]
    for secret in keys.glob("*.key_secret"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, "secret keys are private"
    before = {p.name: p.read_bytes() for p in keys.glob("*.key*")}

    again = swtts("keys", str(keys))
    assert again.returncode != 0 and again.stdout == ""
    lines = again.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("swtts: error: refusing to overwrite existing keys"), again.stderr
    assert str(keys / "server.key_secret") in lines[0] and "--force" in lines[0]
    assert {p.name: p.read_bytes() for p in keys.glob("*.key*")} == before, "nothing was touched"

    added = swtts("keys", str(keys), "--worker", "gpu2")
    assert added.returncode == 0, added.stderr
    assert sorted(p.name for p in (keys / "allowed" / "workers").iterdir()) == ["gpu2.key", "worker.key"]
    assert {p.name: p.read_bytes() for p in keys.glob("*.key*") if p.name in before} == before, "server kept"

    forced = swtts("keys", str(keys), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (keys / "server.key_secret").read_bytes() != before["server.key_secret"]
    assert (keys / "allowed" / "workers" / "worker.key").read_bytes() == (keys / "worker.key").read_bytes()


class CurvePeer(RawPeer):
    """A raw DEALER presenting the key pair in ``secret`` to the broker."""

    def __init__(self, endpoint: str, server_public: Path, secret: Path) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        public, secret_key = zmq.auth.load_certificate(str(secret))
        assert secret_key is not None
        self.socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
        self.socket.setsockopt(zmq.CURVE_SECRETKEY, secret_key)
        self.socket.setsockopt(zmq.CURVE_SERVERKEY, zmq.auth.load_certificate(str(server_public))[0])
        self.socket.connect(endpoint)


def _ping_ready(client: Client) -> bool:
    try:
        return client.ping(timeout_s=1.0).ready >= 1
    except TTSError:
        return False


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    assert swtts("keys", str(folder)).returncode == 0
    assert swtts("keys", str(tmp_path / "strangers"), "--worker", "intruder", "--producer", "intruder").returncode == 0
    return folder


def _client_settings(tmp_path: Path, keys: Path, secret: Path | None) -> Settings:
    security = {"server_public": str(keys / "server.key"), "client_secret": str(secret)} if secret else {}
    config = write_config(tmp_path / f"client-{uuid.uuid4().hex[:6]}.toml", security=security)
    return load_settings(config).override(service__client_timeout_s=1.0, service__client_retries=1)


def test_each_key_may_act_only_in_its_role(processes: Processes, tmp_path: Path, keys: Path) -> None:
    server = {
        "server_secret": str(keys / "server.key_secret"),
        "allowed_workers": str(keys / "allowed" / "workers"),
        "allowed_producers": str(keys / "allowed" / "producers"),
        "server_public": str(keys / "server.key"),
        "client_secret": str(keys / "worker.key_secret"),  # the local worker's
    }
    service = Service(processes, write_config(tmp_path / "server.toml", security=server), workers=1, log_level="DEBUG")
    producer = _client_settings(tmp_path, keys, keys / "producer.key_secret")
    with Client(service.endpoint, producer) as client:
        wait_for(lambda: _ping_ready(client), START_TIMEOUT_S, "the CURVE broker and its worker")
        assert client.synthesize("Only friends may speak.", FAST).duration_s > 0

    # A fake worker (raw zmq) holding the producer's key is refused as a worker and never gets a chunk.
    fake = CurvePeer(service.endpoint, keys / "server.key", keys / "producer.key_secret")
    try:
        ready = Ready(VoiceDescription("fake", "en_US", "en-us", 22050), "fake", "cpu", "fake-host", 1)
        refusal = fake.error_after(ready.encode())
        assert refusal.code == ErrorCode.FORBIDDEN and "allowed_workers" in refusal.message
        forged = fake.error_after(Result("r", 0, b"\x00\x00" * 50, 22050).encode())
        assert forged.code == ErrorCode.FORBIDDEN
        assert fake.ping().workers == 1, "the producer key may still ask; the fake never joined"
        request_id = uuid.uuid4().hex
        seen: list[Message] = []

        def finished(message: Message) -> bool:
            seen.append(message)
            return isinstance(message, (Done, Error)) and message.request_id == request_id

        fake.send(submit(b"Spoken by the real worker only.", request_id))
        assert isinstance(fake.next(finished, timeout=START_TIMEOUT_S), Done), seen[-1]
        assert not [m for m in seen if isinstance(m, Task)], "no task ever reaches a peer that is not a worker"
    finally:
        fake.close()

    # A producer holding a worker's key may not submit or ask.
    wrong = _client_settings(tmp_path, keys, keys / "worker.key_secret")
    with Client(service.endpoint, wrong) as client:
        with pytest.raises(InvalidRequestError) as refused:
            client.synthesize("Let me speak.", FAST)
        assert refused.value.code == "forbidden" and "allowed_producers" in refused.value.message
        with pytest.raises(InvalidRequestError):
            client.ping(timeout_s=5.0)

    # A key in neither folder never gets past the handshake, as producer or as worker.
    stranger = _client_settings(tmp_path, keys, tmp_path / "strangers" / "intruder.key_secret")
    for settings in (stranger, _client_settings(tmp_path, keys, None)):
        with Client(service.endpoint, settings) as client:
            with pytest.raises(TTSError) as unknown:
                client.synthesize("Let me in.", FAST)
            assert unknown.value.code == "unavailable"
            with pytest.raises(TTSError):  # answers (no), rather than hanging on the refused socket
                client.ping(timeout_s=0.5)
            with pytest.raises(TTSError):
                list(client.stream(iter(["Let me ", "in. ", "Please, ", "let me in."]), FAST))
        with pytest.raises(TTSError) as unknown:
            asyncio.run(AsyncClient(service.endpoint, settings).synthesize("Let me in.", FAST))
        assert unknown.value.code == "unavailable"
    denials = service.log_text(tail=10**9).count("DENIED")
    rogue = write_config(
        tmp_path / "rogue.toml",
        security={
            "server_public": str(keys / "server.key"),
            "client_secret": str(tmp_path / "strangers" / "intruder.key_secret"),
        },
    )
    intruder = start_worker(processes, service.endpoint, rogue)
    wait_for(lambda: service.log_text(tail=10**9).count("DENIED") > denials, START_TIMEOUT_S, "the rogue's refusal")

    # A real worker started with a producer's key is told so and exits with that one line.
    as_producer = write_config(
        tmp_path / "misconfigured.toml",
        security={"server_public": str(keys / "server.key"), "client_secret": str(keys / "producer.key_secret")},
    )
    misconfigured = swtts("worker", "--connect", service.endpoint, "--config", str(as_producer), timeout=180)
    assert misconfigured.returncode == 1
    assert misconfigured.stderr.strip().splitlines()[-1].startswith("swtts: error: the broker at "), misconfigured
    assert "not allowed as a worker" in misconfigured.stderr and "Traceback" not in misconfigured.stderr

    with Client(service.endpoint, producer) as client:
        assert client.ping().workers == 1, "only the real worker ever joined"
        assert client.synthesize("Still only friends.", FAST).duration_s > 0
    intruder.send_signal(signal.SIGTERM)
    assert intruder.wait(timeout=30) == 0, "a refused worker still stops cleanly"


def test_serve_refuses_local_workers_holding_a_producer_key(tmp_path: Path, keys: Path) -> None:
    security = {
        "server_secret": str(keys / "server.key_secret"),
        "allowed_workers": str(keys / "allowed" / "workers"),
        "allowed_producers": str(keys / "allowed" / "producers"),
        "server_public": str(keys / "server.key"),
        "client_secret": str(keys / "producer.key_secret"),
    }
    config = write_config(tmp_path / "server.toml", security=security)
    done = swtts("serve", "--bind", "tcp://127.0.0.1:1", "--workers", "1", "--config", str(config), timeout=60)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "is not a worker's key" in done.stderr and "allowed_workers" in done.stderr


def test_the_embedded_service_socket_is_in_a_private_folder(service: EmbeddedService) -> None:
    assert service.endpoint.startswith("ipc://")
    folder = Path(service.endpoint.removeprefix("ipc://")).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, "only this user can reach the broker that trusts everyone"

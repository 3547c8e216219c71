"""API keys: loaded from ``[http] api_keys_file`` and ``SWTTS_API_KEYS``, checked in constant time."""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

from swtts.config import ConfigError, HttpSettings

KEYS_ENV = "SWTTS_API_KEYS"


def load_keys(settings: HttpSettings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every accepted key: one per line of the keys file ('#' comments), plus the environment's."""
    environ = os.environ if environ is None else environ
    keys = [key for key in re.split(r"[\s,]+", environ.get(KEYS_ENV, "")) if key]
    if settings.api_keys_file:
        path = Path(settings.api_keys_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot be read: {path}: {exc.strerror or exc}", "http.api_keys_file") from None
        keys += [line.split("#", 1)[0].strip() for line in lines]
    return tuple(dict.fromkeys(key for key in keys if key))


def key_accepted(header: str | None, keys: tuple[str, ...]) -> bool:
    """``Authorization: Bearer KEY`` against every key, each compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    token = given.strip().encode()
    return any([hmac.compare_digest(token, key.encode()) for key in keys])  # every key compared: no early exit


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int, keys: tuple[str, ...]) -> None:
    """Refuse to serve beyond loopback without keys (one clear line)."""
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve HTTP on {host}:{port} without API keys: set [http] api_keys_file or "
            f"{KEYS_ENV}, or bind 127.0.0.1"
        )

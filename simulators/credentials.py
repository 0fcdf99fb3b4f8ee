"""The simulated loggers' credentials: the HJ 212 PW each MN sends.

For local development the broker helper writes a JSON file (mode 0600) of every logger's credentials,
``{"<park>/<plant>/<point>": {"mqtt_username": ..., "mqtt_password": ..., "hj212_pw": ..., "sm4_key": ...}}``,
from the same secret store the gateway checks (``sm4_key``, 32 hex characters, for the points of a park
that speaks HJ 212-2025). ``outfall simulate --credentials FILE`` (or
``OUTFALL_SIMULATOR_CREDENTIALS``) reads it, so the simulator's frames carry each logger's real PW. A
point the file does not name sends ``DEFAULT_PW``, the protocol's factory setting, which a gateway
requiring PWs refuses.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.models import ParkSpec
from ingest.hj212 import sm4

DEFAULT_PW = "123456"


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_SIMULATOR_")

    credentials: Path | None = None  # the broker helper's credentials file (JSON, 0600)
    # HJ 212-2025 (--edition 2025): seconds a TCP logger with nothing to send waits before a CN 9015
    # heartbeat; the gateway counts a beating logger online (its offline rule is 3 x the point interval).
    heartbeat_s: float = 60.0
    # --transport tcp: the HJ 212 gateway's HOST:PORT when --gateway is not given (`outfall run` sets it)
    gateway: str = "127.0.0.1:8212"


class CredentialsError(ValueError):
    """A credentials file that cannot be read."""


def hj212_passwords(path: Path | None, park: ParkSpec) -> dict[str, str]:
    """MN -> the PW its logger sends, for the points of ``park`` the file names (empty: no file)."""
    return _entries(path, park, "hj212_pw")


def sm4_keys(path: Path | None, park: ParkSpec) -> dict[str, bytes]:
    """MN -> the SM4 key its HJ 212-2025 logger encrypts with, for the points the file gives one."""
    try:
        return {mn: sm4.parse_key(text) for mn, text in _entries(path, park, "sm4_key").items()}
    except sm4.SM4KeyError as exc:
        raise CredentialsError(f"credentials file {path}: {exc}") from exc


def _entries(path: Path | None, park: ParkSpec, what: str) -> dict[str, str]:
    """MN -> the text entry ``what`` of each point of ``park`` the file names."""
    if path is None:
        return {}
    try:
        entries = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CredentialsError(f"credentials file {path}: {exc}") from exc
    if not isinstance(entries, dict):
        raise CredentialsError(f"credentials file {path}: expected a JSON object by park/plant/point")
    out = {}
    for plant in park.plants:
        for point in plant.points:
            entry = entries.get(f"{park.id}/{plant.id}/{point.id}")
            if point.mn and isinstance(entry, dict) and isinstance(entry.get(what), str):
                out[point.mn] = entry[what]
    return out

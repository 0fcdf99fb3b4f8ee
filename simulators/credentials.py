"""The simulated loggers' credentials: the HJ 212 PW each MN sends.

For local development the broker helper writes a JSON file (mode 0600) of every logger's credentials,
``{"<park>/<plant>/<point>": {"mqtt_username": ..., "mqtt_password": ..., "hj212_pw": ...}}``, from the
same secret store the gateway checks. ``outfall simulate --credentials FILE`` (or
``OUTFALL_SIMULATOR_CREDENTIALS``) reads it, so the simulator's frames carry each logger's real PW. A
point the file does not name sends ``DEFAULT_PW``, the protocol's factory setting, which a gateway
requiring PWs refuses.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.models import ParkSpec

DEFAULT_PW = "123456"


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_SIMULATOR_")

    credentials: Path | None = None  # the broker helper's credentials file (JSON, 0600)


class CredentialsError(ValueError):
    """A credentials file that cannot be read."""


def hj212_passwords(path: Path | None, park: ParkSpec) -> dict[str, str]:
    """MN -> the PW its logger sends, for the points of ``park`` the file names (empty: no file)."""
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
            if point.mn and isinstance(entry, dict) and isinstance(entry.get("hj212_pw"), str):
                out[point.mn] = entry["hj212_pw"]
    return out

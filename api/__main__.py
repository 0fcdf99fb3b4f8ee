"""Composition root of the API: `outfall api` / `python -m api`."""

from __future__ import annotations

import sys

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from ingest.core import logs
from ingest.core.settings import DatabaseSettings, MqttSettings


def main() -> int:
    logs.configure("api")
    db, broker, settings = DatabaseSettings(), MqttSettings(), ApiSettings()
    if db.database_url is None or broker.mqtt_url is None:
        print(
            "outfall api: set OUTFALL_DATABASE_URL and OUTFALL_MQTT_URL (or use `outfall run`)",
            file=sys.stderr,
        )
        return 2
    app = create_app(settings, db.database_url, broker.host_port())
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())

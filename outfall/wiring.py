"""The processes whose wiring crosses packages: ingest's writers carry compliance's real-time hook.

`outfall ingest` and `outfall hj212 serve` are wired here, and only here, so a process started alone is
the same as under `outfall run` or docker-compose (`python -m ingest` refuses to start a worker)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from ingest.core.batches import BeforeCommit


def realtime_hook() -> BeforeCommit:
    from compliance.realtime import ingest_hook
    from compliance.settings import RuleSettings

    return ingest_hook(RuleSettings())


def ingest_worker() -> int:
    from ingest.core import logs
    from ingest.core.settings import DatabaseSettings, HJ212LoggerSettings, IngestSettings, MqttSettings
    from ingest.mqtt.worker import IngestWorker

    logs.configure("ingest")
    db, broker, settings = DatabaseSettings(), MqttSettings(), IngestSettings()
    if db.database_url is None or broker.mqtt_url is None:
        print(
            "outfall ingest: set OUTFALL_DATABASE_URL and OUTFALL_MQTT_URL "
            "(or use `outfall run`, which starts local services)",
            file=sys.stderr,
        )
        return 2
    host, port = broker.host_port()
    try:
        credentials = broker.credentials()
    except (OSError, ValueError) as exc:
        print(f"outfall ingest: broker credentials: {exc}", file=sys.stderr)
        return 2
    hj212 = HJ212LoggerSettings()  # the PW and split-packet rules of raw HJ 212 frames over MQTT
    worker = IngestWorker(
        settings, db.database_url, host, port, realtime_hook(), hj212=hj212, credentials=credentials
    )

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
    return 1 if worker.failed else 0


def hj212_gateway() -> int:
    from ingest.hj212.gateway import main

    return main(before_commit=realtime_hook())

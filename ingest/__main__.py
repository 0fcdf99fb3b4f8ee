"""Composition root of the ingest worker: `outfall ingest` / `python -m ingest`."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from ingest import logs
from ingest.batches import AfterCommit
from ingest.settings import DatabaseSettings, IngestSettings, MqttSettings
from ingest.worker import IngestWorker


def main(after_commit: AfterCommit | None = None) -> int:
    # after_commit: the compliance real-time hook, wired by `outfall ingest` (ingest never imports it)
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
    worker = IngestWorker(settings, db.database_url, host, port, after_commit)

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

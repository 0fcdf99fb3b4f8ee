"""Composition root of the compliance process: `outfall compliance` / `python -m compliance`."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from compliance import jobs, scheduler
from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings
from ingest.core import logs
from ingest.core.settings import DatabaseSettings


def context() -> jobs.Context:
    return jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())


def main() -> int:
    logs.configure("compliance")
    db = DatabaseSettings()
    if db.database_url is None:
        print("outfall compliance: set OUTFALL_DATABASE_URL (or use `outfall run`)", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return scheduler.serve(db.database_url, context(), stop)


if __name__ == "__main__":
    sys.exit(main())

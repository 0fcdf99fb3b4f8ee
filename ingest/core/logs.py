"""Logging set-up shared by every process's main()."""

from __future__ import annotations

import logging
import os


def configure(name: str) -> None:
    level = os.environ.get("OUTFALL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job start and finish at INFO; our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))

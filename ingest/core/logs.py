"""Logging set-up shared by every process's main(), with secrets masked in every line."""

from __future__ import annotations

import logging
import os
from typing import Any

from ingest.core.redact import redact


def configure(name: str) -> None:
    level = os.environ.get("OUTFALL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job start and finish at INFO; our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    mask_secrets()


def mask_secrets() -> None:
    """Mask credentials (webhook URL tokens, userinfo, key=/token=/sign=/PW=, bearer tokens) in every log
    record this process makes, whatever logger and handler it goes through (uvicorn's have their own
    handlers, and a filter on the root logger would miss records of child loggers): the record factory
    rewrites the message, and a traceback's text, as the record is made. Idempotent."""
    base = logging.getLogRecordFactory()
    if getattr(base, "masks_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a broken format string: logging reports it when the record is written
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

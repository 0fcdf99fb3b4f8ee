"""`make bench`: prints one JSON object per line per benchmark, then a one-line summary.

Headline keys: ingest_readings_per_s, alert_latency_p50_ms, alert_latency_p99_ms, api_p99_ms, and the
history figures (bench/history.py), console_page_load_ms (bench/console.py)."""

from __future__ import annotations

import importlib
import logging
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import orjson

from bench import common

# Later benchmarks are optional modules with main(env) -> dict; a missing one is reported, not fatal.
BENCHES = ("bench.ingest", "bench.alert_latency", "bench.api", "bench.history", "bench.console")


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    only = set(sys.argv[1:])
    summary: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cores"}
    with common.environment() as env:
        for name in BENCHES:
            if only and name.split(".")[-1] not in only:
                continue
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError:
                print(orjson.dumps({"bench": name, "skipped": "not built yet"}).decode(), flush=True)
                continue
            run: Callable[[common.Env], dict[str, Any]] = module.main
            result = run(env)
            print(orjson.dumps({"bench": name, **result}).decode(), flush=True)
            summary.update(result)
    keys = (
        "ingest_readings_per_s",
        "ingest_vs_naive",
        "alert_latency_p50_ms",
        "alert_latency_p99_ms",
        "api_p99_ms",
        "history_bytes_per_reading_archived",
        "history_hourly_1y_p99_ms",
        "history_raw_30d_p99_ms",
        "history_monthly_report_s",
        "console_page_load_ms",
    )
    print("summary: " + ", ".join(f"{k}={summary[k]}" for k in keys if k in summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ingest worker's memory bound in bytes (OUTFALL_INGEST_MAX_PENDING_BYTES): with that much payload
held unacknowledged, it stops reading from the broker until a commit frees room, and loses nothing."""

from __future__ import annotations

import threading
import time

from tests.support import wait_for

BIG = b"#" * 200_000  # under the broker's 256 KiB packet limit, over the 64 KiB JSON v1 limit
SENT = 30  # 6 MB: what Receive Maximum (20,000 messages) alone would let the worker hold


def test_the_worker_stops_reading_at_its_byte_budget_and_loses_nothing(
    db, make_park, start_worker, publisher
):
    park = make_park()
    topic = f"outfall/v1/{park.id}/shop-01/total"
    database_slow = threading.Event()

    def slow_commit(_conn: object, _staged: object) -> None:
        database_slow.wait(30)  # a database that takes its time: the batch stays in the writer

    budget = 1_000_000
    running = start_worker(
        topic=f"outfall/v1/{park.id}/+/+", before_commit=slow_commit, max_pending_bytes=budget
    )
    for _ in range(SENT):
        publisher.publish(topic, BIG)
    publisher.flush()
    peak, until = 0, time.monotonic() + 3
    while time.monotonic() < until:
        peak = max(peak, running.worker.held_bytes())
        time.sleep(0.005)
    assert budget <= peak <= budget + len(BIG)  # it filled its budget, and went no further
    database_slow.set()

    def counted() -> int:
        row = db.execute("SELECT sum(count) FROM dead_letters WHERE topic = %s", (topic,)).fetchone()
        return int(row[0] or 0)

    wait_for(lambda: counted() == SENT, timeout=60, message="every big message dead-lettered")
    assert running.worker.held_bytes() == 0

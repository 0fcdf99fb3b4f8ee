"""The live stream: a client that disconnects and resumes with Last-Event-ID receives every event once,
in order, and only events of its scope."""

from __future__ import annotations

import threading

import httpx
import orjson
import psycopg
import pytest

from compliance import service
from tests.api.conftest import open_alert


def read_events(
    base: str, headers: dict[str, str], want: int, last_id: str | None = None, timeout: float = 20
):
    """Read `want` alert events (stop there: a disconnect), return them and the last id seen."""
    got: list[tuple[str, dict]] = []
    h = {**headers, **({"Last-Event-ID": last_id} if last_id else {})}
    with httpx.stream("GET", f"{base}/api/v1/events", headers=h, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        event, data, eid = None, None, None
        for line in r.iter_lines():
            if line.startswith("id: "):
                eid = line[4:]
                last_id = eid
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
            elif line == "":
                if event == "alert":
                    got.append((eid, data))
                event, data, eid = None, None, None
                if (want and len(got) >= want) or (not want and last_id):
                    break
    return got, last_id


def annotate(database_url: str, alert_id: int, note: str) -> None:
    with psycopg.connect(database_url) as conn, conn.transaction():
        service.act(conn, alert_id, "annotate", "test", note)


@pytest.mark.timeout(60)
def test_resume_with_last_event_id_delivers_every_event_once(live_api, services, make_park, make_token):
    spec, other = make_park(), make_park()
    officer = make_token("officer", spec.id)
    _none, start = read_events(live_api, officer, 0)  # the `ready` event gives the resume point
    alert = open_alert(services.database_url, spec.id, "shop-01", "total")
    open_alert(services.database_url, other.id, "shop-01", "total")  # another park: never seen
    for i in range(3):
        annotate(services.database_url, alert, f"note {i}")
    first, last = read_events(live_api, officer, 2, start)  # open, note 0; then the client goes away
    # While disconnected: more changes, one from a transaction that started first and commits last (an
    # id-ordered cursor would skip it).
    second = open_alert(services.database_url, spec.id, "shop-02", "total")
    slow = psycopg.connect(services.database_url)
    service.act(slow, second, "annotate", "slow", "committed last")
    annotate(services.database_url, alert, "note 3")
    threading.Timer(1.5, lambda: (slow.commit(), slow.close())).start()
    rest, _ = read_events(live_api, officer, 5, last)
    events = first + rest
    ids = [e for e, _ in events]
    assert len(ids) == len(set(ids)) == 7, ids
    notes = [(d["alert"]["id"], d["action"]) for _e, d in events]
    assert sorted(notes) == sorted(
        [(alert, "open"), *[(alert, "annotate")] * 4, (second, "open"), (second, "annotate")]
    )
    # the late committer's event comes after the events of transactions that started after it
    assert notes[-2:] == [(second, "annotate"), (alert, "annotate")]
    assert {d["alert"]["park"] for _e, d in events} == {spec.id}


def test_a_bad_last_event_id_is_a_422(client, make_token):
    r = client.get("/api/v1/events", headers={**make_token("admin"), "Last-Event-ID": "zzz"})
    assert r.status_code == 422
    assert "Last-Event-ID" in r.json()["detail"]

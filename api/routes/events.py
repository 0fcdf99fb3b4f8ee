"""GET /api/v1/events: Server-Sent Events of alert changes and the plant status that follows from them,
in the caller's scope, resumable with Last-Event-ID."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import AsyncConnection

from api import events, repo, status
from api.auth import Principal
from api.deps import ERRORS, Caller, forget_token, pool
from api.events import Broadcaster
from api.models import ALERT_JSON, public_alert
from compliance.repo.reads import (
    AlertFilter,
    AlertRecord,
    SeverityCount,
    active_alert_counts,
    alert_records,
)

log = logging.getLogger(__name__)
v1 = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS)
POLL_S = 1.0  # also the longest an event waits behind a transaction that commits out of order
HEARTBEAT_S = 15.0
BATCH = 200

EXAMPLE = (
    'event: ready\nid: 81234-17\ndata: {"cursor":"81234-17"}\n\n'
    'id: 81240-18\nevent: alert\ndata: {"action":"open","alert":{"id":17,"state":"open"}}\n\n'
    'event: plant\ndata: {"park":"demo-plating","plant":"shop-07","open_alerts":1,'
    '"worst_severity":"violation"}\n\n'
)


@v1.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"example": EXAMPLE}}}},
)
async def stream_events(
    request: Request,
    caller: Caller,
    last_event_id: Annotated[str | None, Header(description="resume after this event")] = None,
    since: Annotated[
        str | None, Query(description="same as Last-Event-ID, for clients that cannot set it")
    ] = None,
) -> StreamingResponse:
    """Events: `ready` (first; its id is the resume point), `alert` (data: action and the alert as it is
    now) each followed by `plant` (the plant's open alert count and worst severity). A client that
    reconnects with the last id it received gets every later event exactly once. When the token is
    revoked or expires, the stream sends `end` and closes within seconds."""
    resume = last_event_id or since
    try:
        start = events.parse_cursor(resume) if resume else None
    except events.BadCursor as exc:
        raise HTTPException(422, str(exc)) from None
    if start is None:
        async with pool(request).connection() as conn:
            start = (await repo.event_horizon(conn), 0)
    return StreamingResponse(
        _stream(request, caller, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, caller: Principal, start: tuple[int, int]) -> AsyncIterator[str]:
    broadcaster: Broadcaster = request.app.state.broadcaster
    txid, event_id = start
    yield "retry: 2000\n\n" + events.frame(
        "ready", {"cursor": events.cursor(txid, event_id)}, events.cursor(txid, event_id)
    )
    beat = checked = time.monotonic()
    check_s: float = request.app.state.settings.stream_token_check_s
    live = True
    while not await request.is_disconnected():
        async with pool(request).connection() as conn:
            # The token is re-checked while the stream runs: revoked or expired, the stream ends.
            if time.monotonic() - checked >= check_s:
                live, checked = await repo.token_live(conn, caller.token_id), time.monotonic()
            if not live or caller.expired(datetime.now(UTC)):
                log.info("event stream of token %d ended: the token was revoked or expired", caller.token_id)
                forget_token(request.app, caller.token_id)
                yield events.frame("end", {"reason": "the token was revoked or has expired"})
                return
            rows, alerts, summaries = await _changes(conn, caller, txid, event_id)
        for r in rows:
            txid, event_id = r.txid, r.id
            row = alerts.get(r.alert_id) if r.alert_id is not None else None
            if row is None:
                continue  # the alert was deleted with its park
            data = {"action": r.action, "alert": ALERT_JSON.dump_python(public_alert(row), mode="json")}
            yield events.frame("alert", data, events.cursor(r.txid, r.id))
            yield events.frame("plant", _plant(r.park, r.plant, summaries[(r.park, r.plant)]))
        if rows:
            beat = time.monotonic()
            continue
        if time.monotonic() - beat > HEARTBEAT_S:
            yield ": keepalive\n\n"
            beat = time.monotonic()
        await broadcaster.wait(POLL_S)


async def _changes(
    conn: AsyncConnection, caller: Principal, txid: int, event_id: int
) -> tuple[list[repo.EventRow], dict[int, AlertRecord], dict[tuple[str, str], list[SeverityCount]]]:
    """The next events after the cursor in the caller's scope, their alerts and their plants' counts."""
    rows = await repo.events_after(conn, txid, event_id, caller.park, caller.plant, BATCH)
    if not rows:
        return rows, {}, {}
    ids = [r.alert_id for r in rows if r.alert_id is not None]
    # an officer's stream skips the changes of alerts not before officers (not found here)
    query = alert_records(
        AlertFilter(ids=ids, officer=caller.officer_view), caller.park, caller.plant, len(ids)
    )
    alerts = {a.id: a for a in await query.fetch_async(conn)}
    plants = {(r.park, r.plant) for r in rows}
    summaries = {p: await active_alert_counts(*p, caller.officer_view).fetch_async(conn) for p in plants}
    return rows, alerts, summaries


def _plant(park: str, plant: str, summary: list[SeverityCount]) -> dict[str, object]:
    return {
        "park": park,
        "plant": plant,
        "open_alerts": sum(r.count for r in summary),
        "worst_severity": status.worst(r.severity for r in summary),
    }

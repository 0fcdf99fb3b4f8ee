"""Readings of one point: raw values with flags, or park-local hourly/daily valid means, with the limits
in force alongside; JSON or CSV, streamed from the database (stored and archived readings alike), a
page at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api import charts
from api.deps import ERRORS, Caller, Id, aware, not_found, pool, require_plant
from api.history import Pager, choose_bucket
from api.models import LimitPeriod, ReadingsPage
from api.settings import ApiSettings
from compliance.repo import legal
from compliance.repo import reads as compliance_reads
from ingest.core import parameters, ranges
from ingest.core import reads as ingest_reads

v1 = APIRouter(prefix="/api/v1", tags=["readings"], responses=ERRORS)

BUCKETS = {"1h": "hour", "1d": "day"}  # the legal record's spans
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=400)
STREAM_CHUNK = 5_000  # rows per fetch from the server-side cursor
CSV_EXAMPLE = (
    "time,parameter,unit,value,flag,limit_upper,limit_lower\n"
    "2026-11-29T00:00:00+00:00,cod,mg/L,42.1,N,80.0,\n"
)
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}}}


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = aware(end, "to") or datetime.now(UTC)
    start = aware(start, "from") or end - DEFAULT_WINDOW
    if start >= end:
        raise HTTPException(422, "from must be before to")
    if end - start > MAX_WINDOW:
        raise HTTPException(422, f"the window may span at most {MAX_WINDOW.days} days; narrow from/to")
    return start, end


def _code(parameter_id: int) -> str:
    return parameters.BY_ID[parameter_id].code


def _parameter_ids(requested: str | None, measured: dict[int, str]) -> list[int]:
    if requested is None:
        return sorted(measured)
    param = parameters.BY_ALIAS.get(requested)
    if param is None or param.id not in measured:
        known = ", ".join(sorted(parameters.BY_ID[i].code for i in measured if i in parameters.BY_ID))
        raise HTTPException(422, f"parameter {requested!r} is not measured here; this point measures {known}")
    return [param.id]


def _bucket(request: Request, start: datetime, end: datetime, bucket: str | None, raw: bool) -> str | None:
    s: ApiSettings = request.app.state.settings
    raw_window, hourly_window = timedelta(days=s.raw_window_days), timedelta(days=s.hourly_window_days)
    return choose_bucket(start, end, bucket, raw, raw_window, hourly_window)


@v1.get("/parks/{park}/plants/{plant}/points/{point}/readings", response_model=ReadingsPage, responses=CSV)
async def readings(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    point: Id,
    parameter: Annotated[
        str | None, Query(description="canonical code or HJ 212-2017 code; all if omitted")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="inclusive, ISO 8601 with offset")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive, ISO 8601 with offset")] = None,
    bucket: Annotated[
        Literal["1h", "1d"] | None, Query(description="park-local hourly/daily valid means")
    ] = None,
    raw: Annotated[
        bool, Query(description="raw readings whatever the range (a long range gets means otherwise)")
    ] = False,
    fmt: Annotated[
        Literal["json", "csv"], Query(alias="format", description="csv for a spreadsheet")
    ] = "json",
) -> Response:
    """Values are in the catalogue unit (see `units`). `bucket=1h|1d`: the park-local hourly or daily
    means compliance stored when it closed the hour or day (the legal record: valid values only, flags N
    and S and plausible; re-judged when late data arrives), for hours and days starting in the window
    that received data; an hour or day not closed yet has none. `valid`/`total` say how many values each
    mean stands on; `.../record` has the rest. Default window: the last 24 hours. Without `bucket`, a
    range longer than `OUTFALL_API_RAW_WINDOW_DAYS` (7) gets the hourly means, longer than
    `OUTFALL_API_HOURLY_WINDOW_DAYS` (92) the daily ones, unless `raw=true`; `bucket` in the answer says
    which. Raw readings come stored or archived alike. A page holds at most `OUTFALL_API_MAX_RAW_ROWS`
    rows and never splits one time: `next` (in CSV, a last line `# more rows: ...`) is the `from` of the
    next page, null on the last one. The answer is streamed from the database."""
    require_plant(caller, park, plant)
    start, end = window(start, end)
    chosen = _bucket(request, start, end, bucket, raw)
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        ids = _parameter_ids(parameter, row.parameters)
        periods = await compliance_reads.limit_periods([row.id], start, end).fetch_async(conn)
    cap: int = request.app.state.settings.max_raw_rows
    source: Source = (
        (lambda conn: ranges.raw_range(conn, row.id, ids, start, end, cap + 1, STREAM_CHUNK))
        if chosen is None
        else (
            lambda conn: legal.window_means(row.id, ids, BUCKETS[chosen], start, end).stream_async(
                conn, STREAM_CHUNK
            )
        )
    )
    head = ReadingsPage(
        park=park,
        plant=plant,
        point=point,
        timezone=row.timezone,
        bucket=chosen,
        units={_code(i): parameters.BY_ID[i].unit for i in ids},
        limits=[_limit(lim) for lim in periods if lim.parameter_id in ids],
        items=[],
    )
    rows = _paged(pool(request), source, cap)
    if fmt == "csv":
        name = f"{park}_{plant}_{point}{'_' + chosen if chosen else ''}.csv"
        return StreamingResponse(
            _csv(head, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return StreamingResponse(_json(head, rows), media_type="application/json")


def _limit(lim: compliance_reads.LimitPeriod) -> LimitPeriod:
    return LimitPeriod(
        parameter=_code(lim.parameter_id),
        valid_from=lim.valid_from,
        valid_to=lim.valid_to,
        upper=lim.upper,
        lower=lim.lower,
        source=lim.source,
    )


# What _paged yields: lists of rows to send, then once where the next page starts (None: no more).
Part = list[Any] | datetime | None
# The rows of a request in time order, in lists, from server-side cursors of this connection: raw
# readings (times naive UTC, see ingest/core/ranges.py) or stored means.
Source = Callable[[AsyncConnection[Any]], AsyncGenerator[list[Any], None]]


async def _paged(db: AsyncConnectionPool, source: Source, cap: int) -> AsyncIterator[Part]:
    """The source's rows a chunk at a time, cut into one page."""
    pager: Pager[tuple[Any, ...]] = Pager(cap, _time)
    async with db.connection() as conn, conn.transaction():
        chunks = source(conn)
        async for chunk in chunks:
            out = pager.push(chunk[: cap + 1 - pager.seen])
            if out:
                yield out
            if pager.seen > cap:
                break  # the row after the page is read: the rest is for the next page
        await chunks.aclose()  # closes the server-side cursors
    rest, next_from = pager.finish()
    yield rest
    yield next_from


def _time(row: tuple[Any, ...]) -> datetime:
    return row[0]  # type: ignore[no-any-return]  # raw_readings and bucket_means both start with it


CODES = {p.id: p.code for p in parameters.CATALOGUE}


def _raw_item(r: tuple[Any, ...]) -> dict[str, Any]:
    # ingest_reads.RawReading: time, parameter_id, value, flag
    return {"time": r[0], "parameter": CODES[r[1]], "value": r[2], "flag": r[3]}


def _mean_item(r: tuple[Any, ...]) -> dict[str, Any]:
    # ingest_reads.BucketMean: time, parameter_id, mean, valid, total
    return {"time": r[0], "parameter": CODES[r[1]], "mean": r[2], "valid": r[3], "total": r[4]}


async def _json(head: ReadingsPage, rows: AsyncIterator[Part]) -> AsyncIterator[bytes]:
    """ReadingsPage's JSON, its items written as they come (orjson: the model would validate each)."""
    fields = head.model_dump(exclude={"items", "truncated", "next"})
    yield orjson.dumps(fields, option=UTC_Z)[:-1] + b',"items":['
    item = _raw_item if head.bucket is None else _mean_item
    comma, next_from = b"", None
    async for part in rows:
        if isinstance(part, list):
            if part:
                yield comma + orjson.dumps([item(r) for r in part], option=UTC_Z)[1:-1]
                comma = b","
        else:
            next_from = part
    tail = {"truncated": next_from is not None, "next": next_from}
    yield b"]," + orjson.dumps(tail, option=UTC_Z)[1:]


UTC_Z = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC  # raw rows' naive times are UTC


def _limit_at(page: ReadingsPage, code: str, t: datetime) -> LimitPeriod | None:
    for lim in page.limits:
        if (
            lim.parameter == code
            and (lim.valid_from is None or lim.valid_from <= t)
            and (lim.valid_to is None or t < lim.valid_to)
        ):
            return lim
    return None


async def _csv(head: ReadingsPage, rows: AsyncIterator[Part]) -> AsyncIterator[bytes]:
    """A spreadsheet's CSV, written as the rows come; a page cut short ends with a line saying where the
    next one starts."""
    values = ["value", "flag"] if head.bucket is None else ["mean", "valid", "total"]
    # A byte-order mark so that spreadsheet programs read the Chinese names and units as UTF-8.
    header: list[object] = ["time", "parameter", "unit", *values, "limit_upper", "limit_lower"]
    yield "\ufeff".encode() + _csv_lines([header])
    async for part in rows:
        if isinstance(part, list):
            yield _csv_lines([_csv_row(head, r) for r in part])
        elif part is not None:
            yield f"# more rows: ask again with from={ranges.utc(part).isoformat()}\n".encode()


def _csv_row(head: ReadingsPage, r: tuple[Any, ...]) -> list[object]:
    code, t = CODES[r[1]], ranges.utc(r[0])
    lim = _limit_at(head, code, t)
    upper, lower = (lim.upper, lim.lower) if lim else (None, None)
    return [t.isoformat(), code, head.units.get(code), *r[2:], upper, lower]


def _csv_lines(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


@v1.get(
    "/parks/{park}/plants/{plant}/points/{point}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"example": "<svg xmlns=...>...</svg>"}}}},
)
async def chart(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    point: Id,
    parameter: Annotated[str, Query(description="canonical code or HJ 212-2017 code")],
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """One parameter over time as SVG: raw valid values, the stored hourly means, the limit line,
    breaches (red dots) and values with invalid flags (grey marks) — what the dashboard's point page
    shows. A range that the readings endpoint answers with means (see there) is drawn with the hourly
    means only."""
    require_plant(caller, park, plant)
    start, end = window(start, end)
    with_raw = _bucket(request, start, end, None, False) is None
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        ids = _parameter_ids(parameter, row.parameters)
        raw = (
            await ingest_reads.raw_readings(row.id, ids, start, end, CHART_POINTS).fetch_async(conn)
            if with_raw
            else []
        )
        means = await legal.window_means(row.id, ids, BUCKETS["1h"], start, end).fetch_async(conn)
        lims = await compliance_reads.limit_periods([row.id], end - timedelta(seconds=1), end).fetch_async(
            conn
        )
    c = parameters.BY_ID[ids[0]]
    lim = next((x for x in lims if x.parameter_id == ids[0]), None)
    svg = charts.series_chart(
        f"{c.name_zh} {c.name_en}",
        c.unit,
        [(r.time, r.value, r.flag) for r in raw],
        [(m.time, m.mean) for m in means],
        lim.upper if lim else None,
        lim.lower if lim else None,
        start,
        end,
        row.timezone,
    )
    return Response(svg, media_type="image/svg+xml")


CHART_POINTS = 20_000

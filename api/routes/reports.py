"""Compliance reports of a park or one plant over a park-local day, month or quarter, read from the stored
legal record: JSON, CSV, xlsx or a print-ready HTML page. The same reports as `outfall report`
(api/reportdata.py builds both)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import reportdata, reportformats, reporthtml, reports
from api.deps import ERRORS, Caller, Id, not_found, pool, require_park, require_plant, rule_settings

v1 = APIRouter(prefix="/api/v1", tags=["reports"], responses=ERRORS)
Format = Annotated[
    Literal["json", "csv", "xlsx", "html"],
    Query(alias="format", description="json; csv (the daily table); xlsx (every table); html (to print)"),
]
MonthP = Annotated[str, Path(description="a park-local month, YYYY-MM", examples=["2026-11"])]
QuarterP = Annotated[str, Path(description="a park-local quarter, YYYY-Qn", examples=["2026-Q4"])]
LangQ = Annotated[
    reporthtml.Lang,
    Query(
        description="the html format's language, zh or en: its headers and words, and the names of plants,"
        " points and parameters (codes beside them); json, csv and xlsx are the same in both"
    ),
]
CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report (see `format`)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"example": ",".join(reports.DAILY) + "\n"},
            reportformats.MEDIA["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            "text/html": {"example": "<!doctype html>..."},
        },
    }
}
WHAT = (
    " Per point and parameter and park-local day: the stored valid daily mean against the limit in force,"
    " its verdict, values valid / received / expected, hours judged over the limit; per month (or the"
    " day): exceedance days and hours, valid days, breach alerts; the alerts of the period with their"
    " outcome (those a data mark withdrew shown, not counted); the data marks; KPIs and discharged mass"
    " as /kpis and /mass serve them; the central plant's daily reuse ratio. Only what compliance stored"
    " when it closed each hour and day: marked and implausible data are never counted."
)


@v1.get("/parks/{park}/reports/{day}", responses=CONTENT, response_model=None, description=WHAT)
async def park_day(
    request: Request, caller: Caller, park: Id, day: date, fmt: Format = "json", lang: LangQ = "zh"
) -> Response:
    """The park's daily report (plants outside the caller's scope left out)."""
    require_park(caller, park)
    return await _report(request, park, caller.plant, "day", day.isoformat(), fmt, lang)


@v1.get("/parks/{park}/reports/month/{month}", responses=CONTENT, response_model=None, description=WHAT)
async def park_month(
    request: Request, caller: Caller, park: Id, month: MonthP, fmt: Format = "json", lang: LangQ = "zh"
) -> Response:
    """The park's monthly report."""
    require_park(caller, park)
    return await _report(request, park, caller.plant, "month", month, fmt, lang)


@v1.get("/parks/{park}/reports/quarter/{quarter}", responses=CONTENT, response_model=None, description=WHAT)
async def park_quarter(
    request: Request, caller: Caller, park: Id, quarter: QuarterP, fmt: Format = "json", lang: LangQ = "zh"
) -> Response:
    """The park's quarterly report: its three months, and KPIs and mass over the quarter."""
    require_park(caller, park)
    return await _report(request, park, caller.plant, "quarter", quarter, fmt, lang)


@v1.get(
    "/parks/{park}/plants/{plant}/reports/{day}", responses=CONTENT, response_model=None, description=WHAT
)
async def plant_day(
    request: Request, caller: Caller, park: Id, plant: Id, day: date, fmt: Format = "json", lang: LangQ = "zh"
) -> Response:
    """One plant's daily report, with an hourly chart per point and parameter in the HTML version."""
    require_plant(caller, park, plant)
    return await _report(request, park, plant, "day", day.isoformat(), fmt, lang)


@v1.get(
    "/parks/{park}/plants/{plant}/reports/month/{month}",
    responses=CONTENT,
    response_model=None,
    description=WHAT,
)
async def plant_month(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    month: MonthP,
    fmt: Format = "json",
    lang: LangQ = "zh",
) -> Response:
    """One plant's monthly report."""
    require_plant(caller, park, plant)
    return await _report(request, park, plant, "month", month, fmt, lang)


@v1.get(
    "/parks/{park}/plants/{plant}/reports/quarter/{quarter}",
    responses=CONTENT,
    response_model=None,
    description=WHAT,
)
async def plant_quarter(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    quarter: QuarterP,
    fmt: Format = "json",
    lang: LangQ = "zh",
) -> Response:
    """One plant's quarterly report."""
    require_plant(caller, park, plant)
    return await _report(request, park, plant, "quarter", quarter, fmt, lang)


async def _report(
    request: Request,
    park: str,
    plant: str | None,
    kind: reports.Kind,
    label: str,
    fmt: str,
    lang: reporthtml.Lang,
) -> Response:
    target = rule_settings(request).kpi_target
    async with pool(request).connection() as conn:
        try:
            rows = await reportdata.gather(conn, park, plant, kind, label, target)
        except reportdata.NotFound as e:
            raise not_found(str(e)) from None
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        report = await run_in_threadpool(reports.build, rows)  # pandas: keep the event loop free
        names = await reportdata.names(conn, rows, lang) if fmt == "html" else None
        svgs = await reportdata.charts(conn, rows, report, names) if names else []
    headers = {}
    if fmt in ("csv", "xlsx"):
        headers["Content-Disposition"] = f'attachment; filename="{reportformats.filename(report, fmt)}"'
    body = await run_in_threadpool(reportformats.render, report, fmt, svgs, names)
    return Response(body, media_type=reportformats.MEDIA[fmt], headers=headers)

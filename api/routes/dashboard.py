"""The dashboard and the API docs page: static files of our own (HTML, CSS, plain JavaScript),
ECharts' and Swagger UI's own distributions, all served by the API itself, so neither page loads anything from
another origin (the origin that holds the token) and both work offline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
ROOT = Path(str(resources.files("api") / "dashboard"))
DOCS_ASSETS = Path(str(resources.files("api") / "docs_assets"))  # deploy/install-deps.sh fills it
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
# Third-party browser code the dashboard imports (ECharts), from npm at the dependency step.
VENDOR = Path(str(resources.files("api") / "vendor"))


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(ROOT / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
async def docs(request: Request) -> Response:
    """Swagger UI over /openapi.json; 503 saying how to install its files when they are missing."""
    folder: Path = request.app.state.docs_assets
    if not all((folder / name).is_file() for name in DOCS_FILES):
        detail = f"the API docs' files are not installed in {folder}: run deploy/install-deps.sh"
        return JSONResponse({"detail": detail}, status_code=503)
    return FileResponse(ROOT / "docs.html", headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI, docs_assets: str | None) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=ROOT), name="static")
    folder = Path(docs_assets) if docs_assets else DOCS_ASSETS
    app.state.docs_assets = folder
    app.mount("/docs-assets", StaticFiles(directory=folder, check_dir=False), name="docs-assets")
    app.mount("/vendor", StaticFiles(directory=VENDOR, check_dir=False), name="vendor")

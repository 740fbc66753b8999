"""The browser's pages: server-rendered HTML under ``/ui/`` (``/tributary/ui/`` in
Airflow), on the same auth as the API.

Every page is read-only: whatever changes data (edit, delete, upload, sync) is a call from
``static/app.js`` to the JSON API, which checks write access itself. A page only decides
which buttons to show (``may_write``), from the same authorizer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

from tributary.api import auth
from tributary.api.errors import one_line, status_of
from tributary.api.ui import views
from tributary.catalog import Catalog
from tributary.errors import TributaryError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", include_in_schema=False)

HERE = Path(__file__).parent
STATIC = HERE / "static"
# The only files served from static/ (no path from the request ever reaches the disk).
ASSETS = {
    "htmx.min.js": ("vendor/htmx.min.js", "text/javascript"),
    "app.js": ("app.js", "text/javascript"),
    "app.css": ("app.css", "text/css"),
}

# Scripts and styles from this server only: no inline script, no eval, no inline style
# (htmx is configured to inject none), no plugin, no other origin. Framed by Airflow's
# UI (the same origin) only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value is escaped, whatever the template's name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["q"] = views.quoted


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "—" if value is None else str(value)


def _when(value: Any) -> str:
    if value is None:
        return "—"
    text = value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "isoformat") else value
    return str(text).replace("+00:00", " UTC")


def _size(value: Any) -> str:
    if not isinstance(value, int):
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def _shown(value: Any) -> str:
    """A metadata value as the editor shows it: a string as it is, anything else as JSON
    (escaped later, like every value)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


templates.filters["number"] = _number
templates.filters["shown"] = _shown
templates.filters["when"] = _when
templates.filters["size"] = _size


class Links:
    """Addresses the pages link to, under wherever the app is mounted."""

    def __init__(self, request: Request) -> None:
        root = request.scope.get("root_path", "").rstrip("/")
        self.ui = f"{root}/ui"
        self.api = f"{root}/api/v1"
        self.static = f"{root}/ui/static"
        # Airflow's own UI: the app is mounted at /tributary on Airflow's API server.
        self.airflow = root.removesuffix("/tributary") if root.endswith("/tributary") else ""

    def dataset(self, name: str) -> str:
        return f"{self.ui}/datasets/{views.quoted(name)}"

    def api_dataset(self, name: str) -> str:
        return f"{self.api}/datasets/{views.quoted(name)}"

    def airflow_run(self, dag_id: str, run_id: str) -> str:
        return f"{self.airflow}/dags/{views.quoted(dag_id)}/runs/{views.quoted(run_id)}"


def _page(status: int, template: str, context: dict) -> HTMLResponse:
    html = templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _catalog(request: Request) -> Catalog:
    found = request.app.state.catalog
    return found if isinstance(found, Catalog) else found.get()


async def render(
    request: Request,
    template: str,
    build: Callable[[Catalog], dict],
    *,
    title: str,
    section: str = "datasets",
) -> HTMLResponse:
    """The page ``template`` with what ``build`` reads from the catalog (in a thread),
    for a reader; an error page (escaped, one line) otherwise."""
    links = Links(request)
    base = {"links": links, "title": title, "section": section, "may_write": False}
    try:
        caller = await auth.reader(request)
    except HTTPException as exc:
        return _error(exc.status_code, str(exc.detail), base)
    base["may_write"] = request.app.state.authorizer.allowed(caller.user, "write")
    base["user"] = _user_name(caller.user)
    try:
        catalog = _catalog(request)
        context = await anyio.to_thread.run_sync(lambda: build(catalog))
        return _page(200, template, {**base, **context})
    except TributaryError as exc:
        return _error(status_of(exc), one_line(exc), base)
    except Exception as exc:
        log.exception("page %s failed", request.url.path)
        detail = f"internal error ({type(exc).__name__}); the server's log has more"
        return _error(500, detail, base)


def _user_name(user: object) -> str:
    """An Airflow user's name (``BaseUser.get_name``), or the user as text."""
    get_name = getattr(user, "get_name", None)
    return str(get_name()) if callable(get_name) else str(user)


def _error(status: int, detail: str, base: dict) -> HTMLResponse:
    hint = {
        401: "Log in to Airflow, then open Datasets from its menu.",
        403: "Ask an Airflow admin for access to Tributary's DAGs.",
    }.get(status)
    context = {**base, "title": f"Error {status}", "status": status, "detail": detail, "hint": hint}
    return _page(status, "error.html", context)


# -- pages -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def datasets_page(request: Request) -> HTMLResponse:
    """Every dataset: storage, items per state, quota, last sync and its live progress."""
    return await render(
        request,
        "datasets.html",
        lambda catalog: {"datasets": views.dataset_headers(catalog)},
        title="Datasets",
    )


@router.get("/datasets/{dataset}/progress", response_class=HTMLResponse)
async def progress_fragment(dataset: str, request: Request) -> HTMLResponse:
    """The last sync's status and progress bar (polled while a sync runs)."""
    return await render(
        request,
        "progress.html",
        lambda catalog: {"ds": views.dataset_header(catalog, dataset)},
        title="Progress",
    )


@router.get("/datasets/{dataset}/counts", response_class=HTMLResponse)
async def counts_fragment(dataset: str, request: Request) -> HTMLResponse:
    """Items per state, preprocessing states and quota: the browser asks for them after
    the grid is shown (counting a big dataset takes longer than a page of it)."""
    return await render(
        request,
        "row_counts.html" if request.query_params.get("row") else "counts.html",
        lambda catalog: {"ds": views.dataset_summary(catalog, dataset)},
        title="Counts",
    )


@router.get("/datasets/{dataset}/tree", response_class=HTMLResponse)
async def tree_fragment(dataset: str, request: Request) -> HTMLResponse:
    """One level of the folder tree (asked for after the grid is shown: finding the
    sub-folders reads past the files of the folder, which can be many)."""

    def build(catalog: Catalog) -> dict:
        filters = views.parse_filters(request.query_params)
        folders, more = views.folders_of(catalog, dataset, filters)
        return {"ds": {"name": dataset}, "filters": filters, "folders": folders, "more": more}

    return await render(request, "tree.html", build, title="Folders")


@router.get("/datasets/{dataset}", response_class=HTMLResponse)
async def browser_page(dataset: str, request: Request) -> HTMLResponse:
    """The dataset browser: folder tree, filters, a keyset page of thumbnails."""
    links = Links(request)
    after = request.query_params.get("after") or None

    def build(catalog: Catalog) -> dict:
        summary = views.dataset_header(catalog, dataset)
        filters = views.parse_filters(request.query_params)
        api_items = f"{links.api_dataset(dataset)}/items"
        cards, cursor = views.item_page(catalog, dataset, filters, after, api_items)
        return {
            "ds": summary,
            "filters": filters,
            "cards": cards,
            "next": cursor,
            "after": after,
            "crumbs": views.breadcrumbs(filters.folder),
        }

    return await render(request, "browser.html", build, title=dataset)


@router.get("/datasets/{dataset}/items/{item_id}", response_class=HTMLResponse)
async def item_panel(dataset: str, item_id: int, request: Request) -> HTMLResponse:
    """One item: system and user metadata, description, and (for writers) its edits.
    htmx asks for the panel alone (``HX-Request``); a plain visit gets a whole page."""
    links = Links(request)
    fragment = request.headers.get("hx-request") == "true"

    def build(catalog: Catalog) -> dict:
        api_items = f"{links.api_dataset(dataset)}/items"
        return {
            "dataset": dataset,
            "item": views.item_detail(catalog, dataset, item_id, api_items),
            "fragment": fragment,
        }

    return await render(request, "item.html", build, title=dataset)


@router.get("/datasets/{dataset}/upload", response_class=HTMLResponse)
async def upload_page(dataset: str, request: Request) -> HTMLResponse:
    """Upload files and folders (picker or drop), and CSV imports with their report."""
    folder = views.normal_folder(request.query_params.get("folder"))
    return await render(
        request,
        "upload.html",
        lambda catalog: {"ds": views.dataset_summary(catalog, dataset), "folder": folder},
        title=f"Upload to {dataset}",
    )


@router.get("/datasets/{dataset}/syncs", response_class=HTMLResponse)
async def syncs_page(dataset: str, request: Request) -> HTMLResponse:
    """The dataset's sync runs with their counts and errors."""
    return await render(
        request,
        "syncs.html",
        lambda catalog: {
            "ds": views.dataset_header(catalog, dataset),
            "runs": views.sync_runs(catalog, dataset),
        },
        title=f"Syncs of {dataset}",
    )


@router.get("/datasets/{dataset}/syncs/{sync_id}", response_class=HTMLResponse)
async def sync_page(dataset: str, sync_id: int, request: Request) -> HTMLResponse:
    """One sync run: counts, partitions, error, and a dry run's plan."""
    return await render(
        request,
        "sync.html",
        lambda catalog: {
            "ds": views.dataset_header(catalog, dataset),
            "run": views.sync_run(catalog, dataset, sync_id),
            "count_names": views.COUNT_NAMES,
        },
        title=f"Sync {sync_id} of {dataset}",
    )


@router.get("/drivers", response_class=HTMLResponse)
async def drivers_page(request: Request) -> HTMLResponse:
    """Drivers with their permission reports; Check now and Create Driver for writers."""
    return await render(
        request,
        "drivers.html",
        lambda catalog: {"drivers": views.drivers(catalog)},
        title="Drivers",
        section="drivers",
    )


@router.get("/static/{name}")
async def asset(name: str, request: Request) -> Response:
    """The browser's script, style and vendored htmx (behind the same login)."""
    try:
        await auth.reader(request)
    except HTTPException as exc:
        return Response(status_code=exc.status_code)
    if name not in ASSETS:
        return Response(status_code=404)
    relative, media_type = ASSETS[name]
    return FileResponse(
        STATIC / relative,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )

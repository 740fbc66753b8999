"""Linked items and CSV imports: make a link, store a CSV and start its ingest, list
imports, download an import's per-row error report."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from tributary.api.auth import Reader, Writer
from tributary.api.deps import CatalogDep, DrainsDep, RunsDep
from tributary.api.errors import one_line
from tributary.api.streams import BodyReader
from tributary.usecases import imports, links

router = APIRouter(tags=["links and imports"])


class NewLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None
    to: str = "/"
    mimetype: str | None = None
    metadata: dict[str, Any] | None = None
    description: str | None = None
    overwrite: bool = False


@router.post("/datasets/{dataset}/links", status_code=status.HTTP_201_CREATED)
def create_link(
    dataset: str, body: NewLink, catalog: CatalogDep, drains: DrainsDep, caller: Writer
) -> dict:
    """A linked item pointing at ``url`` (its link file at ``<to>/<name>.json``):
    ``{"status", "item"}``. Nothing is fetched now; preprocessing reads the URL."""
    result = links.create_link(catalog, dataset, **body.model_dump())
    if result["status"] != "skipped":
        drains.request(dataset, caller.token)
    return result


@router.post("/datasets/{dataset}/imports", status_code=status.HTTP_201_CREATED)
async def start_import(
    dataset: str,
    request: Request,
    catalog: CatalogDep,
    runs: RunsDep,
    caller: Writer,
    name: str = Query("import.csv", description="the CSV file's name (names the folder)"),
) -> dict:
    """Store the CSV body (streamed) as a new import and start ``tributary_csv_ingest``
    for it. The answer is the import's record; its ``run`` is the Airflow run, or why
    none started (the import stays pending: start it again with the CLI)."""
    body = BodyReader(request)
    record = await anyio.to_thread.run_sync(
        lambda: imports.start_import(catalog, dataset, body, name)
    )
    conf = {"dataset": dataset, "import_id": record["id"]}
    try:
        run = await anyio.to_thread.run_sync(
            lambda: runs.trigger(imports.DAG_ID, conf, caller.token)
        )
        await anyio.to_thread.run_sync(
            lambda: imports.record_run(catalog, record["id"], run["dag_run_id"])
        )
        record["run"] = run
    except Exception as exc:  # the CSV is kept: say why the run did not start
        record["run"] = {"error": one_line(exc)}
    return record


@router.get("/datasets/{dataset}/imports")
def list_imports(dataset: str, catalog: CatalogDep, _: Reader, limit: int = 100) -> dict:
    """The dataset's imports, newest first, with counts and status."""
    return imports.list_imports(catalog, dataset, limit=min(max(limit, 1), 1000))


@router.get("/datasets/{dataset}/imports/{import_id}")
def get_import(dataset: str, import_id: int, catalog: CatalogDep, _: Reader) -> dict:
    """One import: status, counts of rows created / skipped / failed."""
    return imports.get_import(catalog, dataset, import_id)


@router.get("/datasets/{dataset}/imports/{import_id}/errors.csv")
def error_report(dataset: str, import_id: int, catalog: CatalogDep, _: Reader):
    """The import's rejected rows: CSV line number and reason, one per row."""
    chunks = imports.error_report(catalog, dataset, import_id)
    first = next(chunks, b"")  # raises NotFound before the answer starts

    def everything():
        yield first
        yield from chunks

    headers = {"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'}
    return StreamingResponse(everything(), media_type="text/csv", headers=headers)

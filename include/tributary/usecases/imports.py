"""CSV imports of a dataset: store the CSV, start ``tributary_csv_ingest``, list imports,
download the per-row report.

The CSV waits in the dataset's hidden folder at ``.tributary/imports/<id>/source.csv``
(any worker can read it); ``errors.csv`` lands beside it when the run ends. Its rows land in
a folder named after the CSV file (``cams.csv`` → ``/cams/``), which is what makes an
import idempotent: the same ID in the same folder is the same item.
The run's steps are ``usecases.import_run``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import imports as import_queries
from tributary.errors import InvalidInput, NotFound
from tributary.storage import ObjectStore, open_dataset_store
from tributary.storage.base import ObjectNotFound
from tributary.storage.streams import Reader
from tributary.usecases.uploads import check_upload_path

DAG_ID = "tributary_csv_ingest"
REPORT_CHUNK = 1024 * 1024


def import_prefix(store: ObjectStore, import_id: int) -> str:
    """The hidden folder of one import."""
    return f"{store.hidden_prefix}imports/{import_id}/"


def source_key(store: ObjectStore, import_id: int) -> str:
    return import_prefix(store, import_id) + "source.csv"


def report_key(store: ObjectStore, import_id: int) -> str:
    return import_prefix(store, import_id) + "errors.csv"


def import_folder(file_name: str) -> str:
    """The folder an import's rows land in: the CSV file's name without its extension."""
    base = posixpath.basename((file_name or "").replace("\\", "/")).strip()
    stem = base[:-4] if base.lower().endswith(".csv") else base
    if not stem or stem.startswith("."):
        raise InvalidInput(f"the CSV's file name {file_name!r} cannot name a folder")
    return check_upload_path("x", stem)[: -len("x")]


def import_record(row: Mapping, dataset: str) -> dict:
    """The public shape of an import."""
    return {
        "id": row["id"],
        "dataset": dataset,
        "file_name": row["file_name"],
        "folder": row["folder"],
        "status": row["status"],
        "rows": row["rows"],
        "valid": row["valid"],
        "failed": row["failed"],
        "created": row["created"],
        "updated": row["updated"],
        "skipped": row["skipped"],
        "warnings": (row["warnings"] or "").splitlines(),
        "error": row["error"],
        "dag_run_id": row["dag_run_id"],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
    }


def start_import(catalog: Catalog, dataset: str, csv_reader: Reader, file_name: str) -> dict:
    """Store the CSV (streamed from ``csv_reader``) as a new pending import of ``dataset``;
    returns its record. Nothing is validated yet: the DAG does it (``trigger_import``)."""
    folder = import_folder(file_name)
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        row = import_queries.create(
            conn, dataset_id=found.id, file_name=posixpath.basename(file_name), folder=folder
        )
    store = open_dataset_store(found)
    try:
        store.write_stream(source_key(store, row["id"]), csv_reader, content_type="text/csv")
    except BaseException as exc:
        with catalog.begin() as conn:
            import_queries.fail(conn, row["id"], f"the CSV could not be stored: {exc}")
        raise
    return import_record(row, dataset)


def trigger_import(catalog: Catalog, dataset: str, import_id: int, *, client=None) -> dict:
    """Start ``tributary_csv_ingest`` for the import through Airflow's REST API; returns
    ``{"dag_id", "dag_run_id"}`` (recorded on the import)."""
    from tributary.usecases.airflow_runs import trigger_dag

    get_import(catalog, dataset, import_id)
    run = trigger_dag(DAG_ID, {"dataset": dataset, "import_id": import_id}, client=client)
    record_run(catalog, import_id, run.run_id)
    return {"dag_id": run.dag_id, "dag_run_id": run.run_id}


def record_run(catalog: Catalog, import_id: int, dag_run_id: str) -> None:
    """Remember which Airflow run ingests the import."""
    with catalog.begin() as conn:
        import_queries.set_values(conn, import_id, dag_run_id=dag_run_id)


def get_import(catalog: Catalog, dataset: str, import_id: int) -> dict:
    """One import's record (``NotFound`` when the dataset has no such import)."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        return import_record(import_queries.get(conn, found.id, int(import_id)), dataset)


def list_imports(catalog: Catalog, dataset: str, *, limit: int = 100) -> dict:
    """``{"imports": [record, …]}``, newest first."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        rows = import_queries.list_for_dataset(conn, found.id, limit)
    return {"imports": [import_record(row, dataset) for row in rows]}


def error_report(catalog: Catalog, dataset: str, import_id: int) -> Iterator[bytes]:
    """The bytes of the import's ``errors.csv``, chunk by chunk (``NotFound`` before the
    run has written it)."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        import_queries.get(conn, found.id, int(import_id))
    store = open_dataset_store(found)
    key = report_key(store, int(import_id))
    try:
        size = store.head(key).size
    except ObjectNotFound:
        raise NotFound(f"import {import_id} has no error report yet") from None
    return _chunks(store, key, size)


def _chunks(store: ObjectStore, key: str, size: int) -> Iterator[bytes]:
    for start in range(0, size, REPORT_CHUNK):
        yield store.read(key, start, min(REPORT_CHUNK, size - start))

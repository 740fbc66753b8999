"""The ``tributary`` command: drivers, datasets, syncs, items and runs.

Every listing command takes ``--json`` and then prints one JSON object per line.
Errors are one line on stderr and exit code 1; never a traceback, never a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tributary.errors import TributaryError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
driver_app = typer.Typer(no_args_is_help=True, help="Storage drivers (a bucket + a connection).")
dataset_app = typer.Typer(no_args_is_help=True, help="Datasets.")
db_app = typer.Typer(no_args_is_help=True, help="The catalog database.")
app.add_typer(driver_app, name="driver")
app.add_typer(dataset_app, name="dataset")
app.add_typer(db_app, name="db")

INITIAL_SYNC_DAG = "tributary_initial_sync"
UPSTREAM_SYNC_DAG = "tributary_upstream_sync"
PREPROCESS_DAG = "tributary_preprocess"
LaneOption = Annotated[
    str | None,
    typer.Option(
        help="Preprocessing lane (TRIBUTARY_LANES: its own Airflow pool and Celery queue); "
        "'' for the shared lane."
    ),
]
RUN_COUNTS = ("items_changed", "items_renamed", "items_ghosted", "items_revived", "items_purged")
JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _catalog():
    from tributary.config import catalog_url_from_env

    explicit = catalog_url_from_env()
    if explicit:
        # No need to ask Airflow for a connection: skip its ~4 s import.
        from tributary.catalog import Catalog

        return Catalog(explicit)
    from tributary.hooks.catalog import open_catalog

    return open_catalog()


def _json_default(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_json(record: dict) -> None:
    typer.echo(json.dumps(record, default=_json_default, ensure_ascii=False))


def _print_probe(report: dict) -> None:
    typer.echo(f"permissions on {report['location']}:")
    for name, result in report["permissions"].items():
        status = "ok" if result["ok"] else ("MISSING" if result["required"] else "missing")
        need = "required" if result["required"] else "optional"
        typer.echo(f"  {name:<7} {status:<8} ({need}) {result['message']}")


# -- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the catalog tables (also done automatically on first use)."""
    catalog = _catalog()
    catalog.upgrade()
    typer.echo(f"catalog is up to date: {catalog!r}")


# -- drivers -------------------------------------------------------------------------------


@driver_app.command("create")
def driver_create(
    name: str,
    provider: Annotated[str, typer.Option(help="local, s3, azure or gcs")],
    bucket: Annotated[str, typer.Option(help="Bucket or container (a directory for local).")],
    conn_id: Annotated[str | None, typer.Option(help="Airflow connection id.")] = None,
    path: Annotated[str, typer.Option(help="Folder path inside the bucket.")] = "",
    storage_class: Annotated[str, typer.Option()] = "standard",
    region: Annotated[str | None, typer.Option()] = None,
    allow_delete: Annotated[bool, typer.Option(help="Let Tributary delete files.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Create a driver and probe its permissions; nothing is kept if the probe fails."""
    from tributary.catalog import drivers
    from tributary.storage import open_store
    from tributary.storage.probe import probe

    driver = drivers.build(
        name=name,
        provider=provider,
        bucket=bucket,
        conn_id=conn_id,
        path=path,
        storage_class=storage_class,
        region=region,
        allow_delete=allow_delete,
    )
    catalog = _catalog()
    with catalog.begin() as conn:
        drivers.ensure_name_free(conn, name)
    store = open_store(driver)
    _reject_single_file_path(store, path)
    report = probe(store, allow_delete=allow_delete).as_dict()
    if json_out:
        _print_json({**driver.as_dict(), "check": report})
    else:
        _print_probe(report)
    if not report["ok"]:
        raise TributaryError(f"driver {name!r} not created: a required permission is missing")
    with catalog.begin() as conn:
        drivers.insert(conn, driver, check=report)
    if not json_out:
        typer.echo(f"driver {name!r} created on {store.location}")


def _reject_single_file_path(store, path: str) -> None:
    """The folder path must be a folder: a path naming one file is refused (as the spec says)."""
    from tributary.storage.base import StorageError

    key = path.strip().strip("/")
    if not key:
        return
    try:
        store.read(key, 0, 1)
    except StorageError:
        return  # not a file (or not readable: the probe will say)
    raise TributaryError(f"folder path {path!r} is a single file; give a folder")


@driver_app.command("check")
def driver_check(name: str, json_out: JsonFlag = False) -> None:
    """Probe a driver's permissions again; exit 0 when List, Get and Put hold."""
    from tributary.catalog import drivers
    from tributary.storage import open_store
    from tributary.storage.probe import probe

    catalog = _catalog()
    with catalog.begin() as conn:
        driver = drivers.get(conn, name)
    report = probe(open_store(driver), allow_delete=driver.allow_delete).as_dict()
    with catalog.begin() as conn:
        drivers.record_check(conn, name, report)
    if json_out:
        _print_json({"driver": name, **report})
    else:
        _print_probe(report)
    raise typer.Exit(0 if report["ok"] else 1)


@driver_app.command("list")
def driver_list(json_out: JsonFlag = False) -> None:
    """List drivers with their last probe result."""
    from tributary.catalog import drivers

    with _catalog().begin() as conn:
        rows = [(d, drivers.last_check(conn, d.name)) for d in drivers.list_all(conn)]
    for driver, check in rows:
        record = {**driver.as_dict(), "check_ok": check["ok"] if check else None}
        if json_out:
            _print_json(record)
        else:
            state = {True: "ok", False: "FAILED", None: "never checked"}[record["check_ok"]]
            where = f"{driver.provider}://{driver.bucket}/{driver.prefix}"
            typer.echo(f"{driver.name:<20} {where:<50} conn={driver.conn_id or '-'} check={state}")


# -- datasets ------------------------------------------------------------------------------


@dataset_app.command("create")
def dataset_create(
    name: str,
    driver: Annotated[
        str | None, typer.Option(help="Driver name; none = internal storage.")
    ] = None,
    quota: Annotated[int | None, typer.Option(help="Data-point quota (max items).")] = None,
    no_sync: Annotated[
        bool, typer.Option("--no-sync", help="Do not start the initial sync.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the initial sync.")] = False,
    folder: Annotated[
        str,
        typer.Option(
            help="Folder under the driver's path; may hold Airflow date templates, e.g. "
            "'camera-7/{{ ds }}/' (each scheduled or backfill run syncs its own day)."
        ),
    ] = "",
    ghost_grace_days: Annotated[
        int, typer.Option(help="Days a tombstone is kept before it is purged.")
    ] = 7,
    mass_delete_threshold: Annotated[
        float,
        typer.Option(help="Share of items a sync may mark as ghosts without --allow-mass-delete."),
    ] = 0.1,
    lane: LaneOption = None,
) -> None:
    """Create a dataset and start its initial sync through Airflow."""
    from tributary.catalog import datasets

    with _catalog().begin() as conn:
        datasets.create(
            conn,
            name=name,
            driver_name=driver,
            quota=quota,
            sync_enabled=not no_sync,
            folder=folder,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            lane=_known_lane(lane),
        )
    typer.echo(f"dataset {name!r} created")
    if not no_sync:
        try:
            _trigger(INITIAL_SYNC_DAG, {"dataset": name}, wait=wait)
        except TributaryError as exc:
            raise TributaryError(
                f"{exc}. The dataset exists; start its sync later with: tributary sync {name}"
            ) from exc


@dataset_app.command("set")
def dataset_set(
    name: str,
    ghost_grace_days: Annotated[
        int | None, typer.Option(help="Days a tombstone is kept before it is purged.")
    ] = None,
    mass_delete_threshold: Annotated[
        float | None,
        typer.Option(help="Share of items a sync may mark as ghosts without --allow-mass-delete."),
    ] = None,
    sync_enabled: Annotated[
        bool | None,
        typer.Option("--sync/--no-sync", help="Include the dataset in the nightly sync."),
    ] = None,
    lane: LaneOption = None,
) -> None:
    """Change a dataset's sync policy or preprocessing lane."""
    from tributary.catalog import datasets

    with _catalog().begin() as conn:
        dataset = datasets.set_policy(
            conn,
            name,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            sync_enabled=sync_enabled,
            lane=_known_lane(lane),
        )
    typer.echo(
        f"dataset {name!r}: nightly sync {'on' if dataset.sync_enabled else 'off'}, "
        f"tombstones kept {dataset.ghost_grace_days} days, "
        f"mass-delete threshold {dataset.mass_delete_threshold:.0%}, "
        f"lane {dataset.lane or 'shared'}"
    )


def _known_lane(lane: str | None) -> str | None:
    """The lane as given, once checked against TRIBUTARY_LANES ('' and 'shared': shared)."""
    from tributary import config

    if lane is None:
        return None
    if lane in ("", "shared"):
        return ""
    if lane not in config.lanes():
        raise TributaryError(
            f"lane {lane!r} is not defined; define it in TRIBUTARY_LANES (JSON, e.g. "
            f'\'{{"{lane}": {{"pool": "tributary_{lane}", "queue": "{lane}"}}}}\') '
            "for the CLI and for Airflow"
        )
    return lane


@dataset_app.command("list")
def dataset_list(json_out: JsonFlag = False) -> None:
    """List datasets with their storage, item count and quota."""
    from tributary.catalog import datasets

    with _catalog().begin() as conn:
        rows = datasets.list_all(conn)
    for row in rows:
        if json_out:
            _print_json(row)
        else:
            quota = row["quota"] if row["quota"] is not None else "-"
            typer.echo(f"{row['name']:<20} {row['storage']:<50} items={row['items']} quota={quota}")


@dataset_app.command("quota")
def dataset_quota(
    name: Annotated[str, typer.Argument(help="Dataset name, or 'catalog' for the whole catalog.")],
    max_data_points: Annotated[int | None, typer.Argument(help="Omit to remove the quota.")] = None,
) -> None:
    """Set or remove a data-point quota."""
    from tributary.catalog import datasets

    with _catalog().begin() as conn:
        scope = "catalog" if name == "catalog" else f"dataset:{datasets.get(conn, name).id}"
        datasets.set_quota(conn, scope, max_data_points)
    typer.echo(f"quota of {name}: {max_data_points if max_data_points is not None else 'none'}")


# -- syncs, items, runs --------------------------------------------------------------------


def _trigger(dag_id: str, conf: dict, *, wait: bool, outcomes: bool = True) -> str | None:
    """Trigger a DAG run through the REST API; with ``wait``, the finished state."""
    from tributary.airflow_rest import AirflowClient

    client = AirflowClient.from_env()
    try:
        if client.wait_for_dag(dag_id)["is_paused"]:
            client.unpause(dag_id)
        run_id = client.trigger(dag_id, conf)
    except TributaryError as exc:
        raise TributaryError(f"{dag_id} not started: {exc}") from exc
    typer.echo(f"{dag_id} triggered for {conf['dataset']!r}: run {run_id} ({client.base_url})")
    typer.echo(f"follow it with: tributary runs {conf['dataset']}")
    if not wait:
        return None
    state = client.wait(dag_id, run_id)
    typer.echo(f"run {run_id}: {state}")
    if outcomes:
        _print_outcomes(dag_id, run_id)
    if state != "success":
        raise typer.Exit(1)
    return state


def _print_outcomes(dag_id: str, run_id: str) -> None:
    from tributary.sync import upstream

    for run in upstream.outcomes(_catalog(), dag_id=dag_id, run_id=run_id):
        typer.echo(_run_line(run))
        report = run.get("report") or {}
        for kind, paths in (report.get("samples") or {}).items():
            for path in paths:
                typer.echo(f"       {kind}: {path}")


@app.command("sync")
def sync(
    dataset: str,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; apply nothing.")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Apply even when more files vanished than the dataset's threshold.",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")] = False,
) -> None:
    """Start an upstream sync of a dataset through Airflow (new, changed, renamed and
    vanished files; vanished ones become tombstones)."""
    from tributary.catalog import datasets

    with _catalog().begin() as conn:
        datasets.get(conn, dataset)
    conf = {"dataset": dataset, "dry_run": dry_run, "allow_mass_delete": allow_mass_delete}
    _trigger(UPSTREAM_SYNC_DAG, conf, wait=wait)


@app.command("items")
def items(
    dataset: str,
    state: Annotated[str, typer.Option(help="active, ghost or all")] = "active",
    json_out: JsonFlag = False,
) -> None:
    """List a dataset's items (streamed)."""
    from tributary.catalog import datasets
    from tributary.catalog import items as item_queries

    with _catalog().begin() as conn:
        datasets.get(conn, dataset)
        for item in item_queries.iterate(conn, dataset, state):
            if json_out:
                _print_json(
                    {
                        "id": item["id"],
                        "path": item["path"],
                        "state": item["state"],
                        "size": item["size"],
                        "etag": item["etag"],
                        "mimetype": item["mimetype"],
                        "mtime": item["mtime"],
                        "created_at": item["created_at"],
                        "metadata": {
                            "system": item["system_metadata"] or {},
                            "user": item["user_metadata"] or {},
                        },
                        "description": item["description"],
                        "preprocess_state": item["preprocess_state"],
                        "preprocess_error": item["preprocess_error"],
                        "preprocessed_at": item["preprocessed_at"],
                        "thumbnail": item["thumbnail_key"],
                    }
                )
            else:
                typer.echo(f"{item['id']:>8} {item['state']:<6} {item['size']:>12} {item['path']}")


@app.command("preprocess")
def preprocess(
    dataset: str,
    force: Annotated[
        bool, typer.Option("--force", help="Redo every item, not only the pending ones.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")] = False,
) -> None:
    """Start preprocessing (metadata + thumbnails) of a dataset's items through Airflow."""
    from tributary.catalog import datasets
    from tributary.catalog import preprocessing as queries

    with _catalog().begin() as conn:
        dataset_id = datasets.get(conn, dataset).id
    _trigger(PREPROCESS_DAG, {"dataset": dataset, "force": force}, wait=wait, outcomes=False)
    if wait:
        with _catalog().begin() as conn:
            counts = queries.states(conn, dataset_id)
        typer.echo(", ".join(f"{n} {state}" for state, n in counts.items()))


@app.command("thumbnail")
def thumbnail(
    dataset: str,
    path: str,
    output: Annotated[
        str, typer.Option("-o", "--output", help="File to write; '-' for stdout.")
    ] = "-",
) -> None:
    """Fetch one item's thumbnail from the dataset's storage."""
    from tributary.catalog import datasets
    from tributary.catalog import preprocessing as queries
    from tributary.errors import NotFound
    from tributary.storage import open_dataset_store

    with _catalog().begin() as conn:
        found = datasets.get(conn, dataset)
        item = queries.item_by_path(conn, dataset, path)
    if item is None:
        raise NotFound(f"no item {path!r} in dataset {dataset!r}")
    if not item["thumbnail_key"]:
        why = {
            "pending": "it is not preprocessed yet (tributary preprocess " + dataset + ")",
            "failed": f"its preprocessing failed: {item['preprocess_error']}",
        }.get(item["preprocess_state"], f"it is a {item['mimetype'] or 'file'} without one")
        raise NotFound(f"{path!r} has no thumbnail: {why}")
    data = open_dataset_store(found).read(item["thumbnail_key"])
    if output == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(output).write_bytes(data)
        typer.echo(f"{output}: {len(data)} bytes ({item['thumbnail_key']})", err=True)


@app.command("runs")
def runs(dataset: str, json_out: JsonFlag = False) -> None:
    """Sync history of a dataset, newest first, with progress of running syncs."""
    from tributary.catalog import datasets, syncs

    with _catalog().begin() as conn:
        datasets.get(conn, dataset)
        history = syncs.history(conn, dataset)
    for run in history:
        if json_out:
            _print_json(run)
            continue
        typer.echo(_run_line(run))


def _run_line(run: dict) -> str:
    progress = f"partitions {run['partitions_done']}/{run['partitions_total']}"
    counts = " ".join(
        f"{name.removeprefix('items_')}={run[name]}" for name in ("items_new", *RUN_COUNTS)
    )
    line = (
        f"#{run['id']:<5} {run['kind']:<8} {run['status']:<9} "
        f"{'dry-run ' if run['dry_run'] else ''}{progress:<18} "
        f"listed={run['objects_listed']} {counts} "
        f"started={run['started_at']:%Y-%m-%d %H:%M:%S}"
    )
    return line + (f"\n       error: {run['error']}" if run["error"] else "")


def _with_hint(exc: TributaryError) -> str:
    """An error's one line, with the CLI command that helps next (domain errors name none)."""
    from tributary.errors import DatasetNotFound, DriverNotFound

    if isinstance(exc, DatasetNotFound):
        return f"{exc} (see: tributary dataset list)"
    if isinstance(exc, DriverNotFound):
        return f"{exc} (see: tributary driver list)"
    return str(exc)


def main() -> None:
    """Entry point: run the CLI, turning Tributary errors into one line and exit 1."""
    try:
        app(standalone_mode=False)
    except TributaryError as exc:
        typer.echo(f"error: {_with_hint(exc)}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise

"""Bucket event notifications → catalog changes (the event-driven upstream sync).

Payloads come from Airflow triggers watching the bucket's event queue: S3 notifications
through SQS, GCS notifications through Pub/Sub, Azure Blob events (Event Grid schema)
through a storage queue. They are parsed into ``BucketEvent``s, deduplicated by (key,
etag, order), and only the newest event per key is applied — in one transaction per
dataset, through the same plan/apply SQL as the nightly reconcile (so a copy + delete in
one batch is a rename that keeps the item). Keys in the hidden folder are ignored, so
Tributary's own thumbnails and probe files never loop back. Dropped events are caught by
the nightly reconcile.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus, urlsplit

from tributary.catalog import Catalog, staging
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import reconcile as plans
from tributary.catalog import syncs as sync_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.staging import StagedRow
from tributary.config import HIDDEN_FOLDER
from tributary.errors import InvalidInput, TributaryError
from tributary.mimetype import mimetype_of_extension
from tributary.storage import open_dataset_store
from tributary.storage.base import ObjectNotFound
from tributary.sync import listing, scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BucketEvent:
    """One object created or deleted, as a bucket notification reported it."""

    provider: str
    bucket: str
    key: str
    kind: str  # created | deleted
    order: str  # compares in event order for one key (provider sequencer or time)
    size: int = 0
    etag: str | None = None
    mtime: dt.datetime | None = None


# -- parsing -------------------------------------------------------------------------------


def parse_payloads(payloads: Iterable[dict]) -> list[BucketEvent]:
    """Every bucket event in the trigger payloads (SQS, Pub/Sub or Azure queue batches).

    A message that is not a bucket event (an S3 test event, another event type) is
    skipped; a message that cannot be read at all raises InvalidInput naming it.
    """
    events: list[BucketEvent] = []
    for payload in payloads:
        if "message_batch" in payload:  # SqsSensorTrigger / MessageQueueTrigger(sqs)
            for message in payload["message_batch"]:
                events.extend(_s3_events(_json(message.get("Body"), "SQS message")))
        elif "message" in payload:  # PubsubPullTrigger
            for received in payload["message"]:
                event = _gcs_event(received.get("message", received))
                if event:
                    events.append(event)
        elif "azure_messages" in payload:  # tributary's AzureStorageQueueTrigger
            for content in payload["azure_messages"]:
                events.extend(_azure_events(_json(content, "Azure queue message")))
        else:
            raise InvalidInput(f"not a bucket event payload: keys {sorted(payload)}")
    return events


def _json(text, what: str):
    if isinstance(text, dict | list):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        pass
    try:  # storage queues often carry base64-encoded JSON
        return json.loads(base64.b64decode(text, validate=True))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON: {str(text)[:80]!r}") from exc


def _timestamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _time_order(value: str | None) -> str:
    stamp = _timestamp(value)
    return stamp.astimezone(dt.UTC).strftime("t%Y%m%d%H%M%S%f") if stamp else "t"


def _s3_events(body: dict) -> Iterator[BucketEvent]:
    if body.get("Type") == "Notification" and "Message" in body:  # S3 → SNS → SQS
        body = _json(body["Message"], "SNS message")
    for record in body.get("Records", []):
        name = record.get("eventName", "")
        kind = _kind(name, created="ObjectCreated", deleted="ObjectRemoved")
        if kind is None:
            continue
        obj = record["s3"]["object"]
        sequencer = obj.get("sequencer")
        # S3 sequencers compare as hex strings once right-padded to one length; without
        # one (some emulators), the event time orders them.
        order = (
            f"s{sequencer.ljust(32, '0')}" if sequencer else _time_order(record.get("eventTime"))
        )
        yield BucketEvent(
            provider="s3",
            bucket=record["s3"]["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            kind=kind,
            order=order,
            size=int(obj.get("size") or 0),
            etag=(obj.get("eTag") or "").strip('"') or None,
            mtime=_timestamp(record.get("eventTime")),
        )


def _gcs_event(message: dict) -> BucketEvent | None:
    attributes = message.get("attributes") or {}
    kind = {"OBJECT_FINALIZE": "created", "OBJECT_DELETE": "deleted"}.get(
        attributes.get("eventType", "")
    )
    if kind is None:  # metadata updates, archive events
        return None
    data = _json(message.get("data") or "{}", "Pub/Sub message data")
    md5 = data.get("md5Hash")
    generation = str(attributes.get("objectGeneration") or data.get("generation") or "0")
    return BucketEvent(
        provider="gcs",
        bucket=attributes.get("bucketId") or data["bucket"],
        key=attributes.get("objectId") or data["name"],
        kind=kind,
        order=f"g{generation.zfill(24)}",
        size=int(data.get("size") or 0),
        etag=base64.b64decode(md5).hex() if md5 else data.get("etag"),
        mtime=_timestamp(data.get("updated")),
    )


def _azure_events(body) -> Iterator[BucketEvent]:
    for event in body if isinstance(body, list) else [body]:
        kind = _kind(event.get("eventType", ""), created="BlobCreated", deleted="BlobDeleted")
        if kind is None:
            continue
        data = event.get("data", {})
        # https://<account>.blob.core.windows.net/<container>/<blob> (Azurite: /<account>/…)
        path = unquote(urlsplit(data["url"]).path).lstrip("/")
        container_and_key = event.get("subject", "")
        if "/containers/" in container_and_key and "/blobs/" in container_and_key:
            container = container_and_key.split("/containers/", 1)[1].split("/blobs/", 1)[0]
            key = container_and_key.split("/blobs/", 1)[1]
        else:
            container, _, key = path.partition("/")
        # Event Grid carries the service etag, which changes on every copy; the content
        # MD5 the catalog keys renames on is fetched with a HEAD when the event lacks it.
        md5 = data.get("contentMd5")
        yield BucketEvent(
            provider="azure",
            bucket=container,
            key=key,
            kind=kind,
            order=f"a{data.get('sequencer', '')}",
            size=int(data.get("contentLength") or 0),
            etag=base64.b64decode(md5).hex() if md5 else None,
            mtime=_timestamp(event.get("eventTime")),
        )


def _kind(name: str, *, created: str, deleted: str) -> str | None:
    if created in name:
        return "created"
    if deleted in name:
        return "deleted"
    return None


def newest_per_key(events: Iterable[BucketEvent]) -> list[BucketEvent]:
    """Drop duplicates and keep, for each object, only its newest event."""
    newest: dict[tuple[str, str, str], BucketEvent] = {}
    for event in set(events):
        slot = (event.provider, event.bucket, event.key)
        current = newest.get(slot)
        if current is None or (event.order, event.kind == "deleted") > (
            current.order,
            current.kind == "deleted",
        ):
            newest[slot] = event
    return sorted(newest.values(), key=lambda e: (e.provider, e.bucket, e.key))


# -- applying ------------------------------------------------------------------------------


def apply(
    catalog: Catalog,
    events: list[BucketEvent],
    *,
    dag_id: str,
    run_id: str,
    run_alive: sync_queries.RunAlive | None = None,
) -> list[dict]:
    """Apply events to every dataset whose storage they fall in; one summary per dataset."""
    latest = newest_per_key(events)
    log.info("%d events, %d objects after deduplication", len(events), len(latest))
    with catalog.begin() as conn:
        names = [d["name"] for d in dataset_queries.list_all(conn)]
        datasets = [dataset_queries.get(conn, name) for name in names]
    results = []
    for dataset in datasets:
        mine = [e for e in latest if _belongs(dataset, e)]
        if mine:
            results.append(_apply_to_dataset(catalog, dataset, mine, dag_id, run_id, run_alive))
    return results


def _belongs(dataset: Dataset, event: BucketEvent) -> bool:
    driver = dataset.driver
    if driver is None or driver.provider != event.provider or driver.bucket != event.bucket:
        return False
    root = driver.prefix + scope.static_root(dataset.folder)
    hidden = f"{driver.prefix}{HIDDEN_FOLDER}/"
    key = event.key
    return key.startswith(root) and not key.startswith(hidden) and not key.endswith("/")


def _with_content_hashes(dataset: Dataset, created: list[BucketEvent]) -> list[BucketEvent]:
    """Fill in size and content hash with a HEAD where an event does not carry them (Azure
    Event Grid); an object already gone again is left to its delete event."""
    if all(e.etag for e in created):
        return created
    store = open_dataset_store(dataset)
    completed = []
    for event in created:
        if event.etag:
            completed.append(event)
            continue
        try:
            info = store.head(event.key)
        except ObjectNotFound:
            log.info("%s is gone again; skipping its created event", event.key)
            continue
        completed.append(
            dataclasses.replace(
                event, size=info.size, etag=info.etag, mtime=info.last_modified or event.mtime
            )
        )
    return completed


def _apply_to_dataset(
    catalog: Catalog,
    dataset: Dataset,
    events: list[BucketEvent],
    dag_id: str,
    run_id: str,
    run_alive: sync_queries.RunAlive | None,
) -> dict:
    sync_id = listing.start(
        catalog,
        dataset_name=dataset.name,
        kind="event",
        dag_id=dag_id,
        run_id=run_id,
        run_alive=run_alive,
    )
    try:
        return _apply_batch(catalog, dataset, events, sync_id)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, TributaryError) else type(exc).__name__
        with catalog.begin() as conn:
            sync_queries.fail(conn, sync_id, f"events not applied: {reason}")
        raise


def _apply_batch(catalog: Catalog, dataset: Dataset, events: list[BucketEvent], sync_id: int):
    prefix = dataset.driver.prefix
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        applied_order = item_queries.event_orders(conn, dataset.id, [e.key for e in events])
    fresh = [e for e in events if e.order > applied_order.get(e.key, "")]
    stale = len(events) - len(fresh)
    created = _with_content_hashes(dataset, [e for e in fresh if e.kind == "created"])
    with catalog.begin() as conn:
        staging.insert_rows(
            conn,
            [
                StagedRow(
                    sync_id=sync_id,
                    storage_key=e.key,
                    partition_index=0,
                    path=f"/{e.key[len(prefix) :]}",
                    size=e.size,
                    etag=e.etag,
                    mtime=e.mtime,
                    mimetype=mimetype_of_extension(e.key.rpartition("/")[2]),
                )
                for e in created
            ],
        )
        plan = plans.plan_events(
            conn,
            dataset_id=dataset.id,
            sync_id=sync_id,
            deleted_keys=[e.key for e in fresh if e.kind == "deleted"],
        )
        item_queries.check_quota(
            conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=plan["new"]
        )
        plans.apply(conn, dataset_id=dataset.id, sync_id=sync_id, last_seen_sync_id=None, now=now)
        item_queries.record_event_orders(conn, dataset.id, {e.key: e.order for e in fresh})
        counts = {
            "items_new": plan["new"],
            "items_changed": plan["changed"],
            "items_renamed": plan["renamed"],
            "items_ghosted": plan["vanished"],
            "items_revived": plan["revived"],
        }
        sync_queries.record_report(
            conn, sync_id, {"events": len(events), "stale_ignored": stale, "counts": plan}
        )
        sync_queries.succeed(conn, sync_id, **counts)
        created_range = item_queries.created_by(conn, sync_id)
    log.info("Dataset %s: %s (%d stale events ignored)", dataset.name, plan, stale)
    return {"dataset": dataset.name, "sync_id": sync_id, **counts, "created": created_range}

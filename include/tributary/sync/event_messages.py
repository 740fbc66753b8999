"""Bucket event notifications, as the three providers send them, → ``BucketEvent``s.

Pure: payloads in, events out, no catalog and no storage. The wire formats: S3
notifications through SQS (optionally wrapped by SNS), GCS notifications through Pub/Sub,
Azure Blob events (Event Grid schema) through a storage queue, base64 or not; then
``newest_per_key`` drops duplicates and keeps each object's newest event. Applying the
events to the catalog is ``sync.events``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus, urlsplit

from tributary.errors import InvalidInput


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

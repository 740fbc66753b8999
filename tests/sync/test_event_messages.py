"""Parsing bucket notifications and choosing the newest event per object (pure logic)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from tributary.errors import InvalidInput
from tributary.sync.event_messages import BucketEvent, newest_per_key, parse_payloads


def s3_record(name: str, key: str, sequencer: str | None = "00A1", etag="abc") -> dict:
    obj = {"key": key, "size": 3, "eTag": etag}
    if sequencer:
        obj["sequencer"] = sequencer
    return {
        "eventName": name,
        "eventTime": "2026-11-23T10:00:00.000Z",
        "s3": {"bucket": {"name": "b"}, "object": obj},
    }


def sqs(*bodies) -> dict:
    return {"status": "success", "message_batch": [{"Body": json.dumps(b)} for b in bodies]}


def test_s3_keys_are_url_decoded_and_test_events_skipped():
    payload = sqs(
        {"Records": [s3_record("ObjectCreated:Put", "photos/a+b%2Bc%C3%A9.jpg")]},
        {"Service": "Amazon S3", "Event": "s3:TestEvent"},
    )
    (event,) = parse_payloads([payload])
    assert (event.key, event.kind, event.etag) == ("photos/a b+cé.jpg", "created", "abc")


def test_s3_through_sns_is_unwrapped():
    inner = {"Records": [s3_record("ObjectRemoved:Delete", "x.jpg")]}
    payload = sqs({"Type": "Notification", "Message": json.dumps(inner)})
    (event,) = parse_payloads([payload])
    assert event.kind == "deleted"


def test_sequencers_of_different_lengths_compare_after_padding():
    short = parse_payloads([sqs({"Records": [s3_record("ObjectRemoved:Delete", "k", "0B")]})])
    long = parse_payloads([sqs({"Records": [s3_record("ObjectCreated:Put", "k", "0A00F")]})])
    (newest,) = newest_per_key([*long, *short])
    assert newest.kind == "deleted"  # 0B000… > 0A00F…


def test_duplicates_collapse_and_the_newest_event_wins():
    def event(kind, order):
        return BucketEvent("s3", "b", "k", kind, order, 1, "e")

    events = [event("created", "s2"), event("deleted", "s3"), event("created", "s2")]
    assert newest_per_key(events) == [event("deleted", "s3")]
    assert newest_per_key([event("created", "s5"), event("deleted", "s3")]) == [
        event("created", "s5")
    ]


def test_azure_queue_messages_may_be_base64():
    grid = {
        "eventType": "Microsoft.Storage.BlobDeleted",
        "subject": "/blobServices/default/containers/c/blobs/dir/x y.jpg",
        "eventTime": "2026-11-23T10:00:00Z",
        "data": {"url": "https://acct.blob.core.windows.net/c/dir/x%20y.jpg", "sequencer": "01"},
    }
    encoded = base64.b64encode(json.dumps(grid).encode()).decode()
    (event,) = parse_payloads([{"azure_messages": [encoded]}])
    assert (event.bucket, event.key, event.kind) == ("c", "dir/x y.jpg", "deleted")


def test_gcs_metadata_updates_are_not_bucket_changes():
    message = {
        "message": {
            "data": base64.b64encode(b'{"bucket": "b", "name": "k"}').decode(),
            "attributes": {"eventType": "OBJECT_METADATA_UPDATE", "bucketId": "b", "objectId": "k"},
        }
    }
    assert parse_payloads([{"message": [message]}]) == []


def test_gcs_finalize_carries_the_content_md5_and_orders_by_generation():
    data = {
        "bucket": "b",
        "name": "photos/cat.jpg",
        "size": "2048",
        "md5Hash": base64.b64encode(bytes.fromhex("00ff10")).decode(),
        "updated": "2026-11-23T10:00:00.5Z",
    }
    message = {
        "data": base64.b64encode(json.dumps(data).encode()).decode(),
        "attributes": {"eventType": "OBJECT_FINALIZE", "objectGeneration": "17"},
    }
    (event,) = parse_payloads([{"message": [{"message": message}]}])

    assert (event.provider, event.bucket, event.key, event.kind) == (
        "gcs",
        "b",
        "photos/cat.jpg",
        "created",
    )
    assert (event.size, event.etag) == (2048, "00ff10")
    assert event.order == f"g{'17'.zfill(24)}"  # generations compare as numbers
    assert event.mtime == dt.datetime(2026, 11, 23, 10, 0, 0, 500000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("md5", "etag"),
    [
        pytest.param(base64.b64encode(bytes.fromhex("abcd")).decode(), "abcd", id="with-md5"),
        pytest.param(None, None, id="no-md5-left-for-a-head"),
    ],
)
def test_azure_created_events_take_the_content_md5_never_the_service_etag(md5, etag):
    data = {
        "url": "https://acct.blob.core.windows.net/c/a%20b.jpg",  # no subject: from the URL
        "contentLength": 5,
        "eTag": "0x8DC",
        "sequencer": "02",
    }
    if md5:
        data["contentMd5"] = md5
    grid = [{"eventType": "Microsoft.Storage.BlobCreated", "data": data}]
    (event,) = parse_payloads([{"azure_messages": [json.dumps(grid)]}])

    assert (event.bucket, event.key, event.kind, event.size) == (
        "c",
        "a b.jpg",
        "created",
        5,
    )
    assert event.etag == etag


def test_unreadable_payloads_are_named():
    with pytest.raises(InvalidInput, match="SQS message is not JSON"):
        parse_payloads([{"message_batch": [{"Body": "<xml/>"}]}])
    with pytest.raises(InvalidInput, match="not a bucket event payload"):
        parse_payloads([{"something": 1}])

"""``tributary_event_sync``: real queues feed the real triggers, whose payloads drive the DAG.

S3: moto S3 bucket notifications into a moto SQS queue, read by the amazon provider's
trigger (through ``MessageQueueTrigger``). Azure: Event Grid-schema events in an Azurite
queue, read by Tributary's queue trigger. GCS: the google provider's Pub/Sub trigger with
a faked subscriber (there is no Pub/Sub emulator here) over objects in the GCS emulator.
Out-of-order and duplicate deliveries are part of every scenario.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
import uuid

import pytest

from tests.buckets import gcs_client, new_bucket, s3_client
from tests.dags.runner import run_dag
from tests.dags.test_initial_sync import items_created_events, make_dataset
from tributary.catalog import datasets, syncs
from tributary.catalog import items as item_queries
from tributary.catalog.schema import items

DAG_ID = "tributary_event_sync"
SEED = {"keep.jpg": b"keep", "old.jpg": b"old name", "gone.jpg": b"to be deleted"}


async def _drain(trigger, idle: float) -> list[dict]:
    payloads = []
    events = trigger.run()
    while True:
        try:
            event = await asyncio.wait_for(anext(events), timeout=idle)
        except (TimeoutError, StopAsyncIteration):
            break
        payloads.append(event.payload)
    return payloads


def drain(trigger, idle: float = 5.0) -> list[dict]:
    """Every payload the trigger yields until its queue has been quiet for ``idle`` s."""
    return asyncio.run(_drain(trigger, idle))


def by_path(catalog, state="active") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, "ds", state)}


def prepare_dataset(catalog, bucket) -> dict[str, dict]:
    for key, data in SEED.items():
        bucket.put(key, data)
    make_dataset(catalog, bucket)
    with catalog.begin() as conn:
        datasets.set_policy(conn, "ds", mass_delete_threshold=1)
    assert run_dag("tributary_upstream_sync", {"dataset": "ds"}).state == "success"
    with catalog.begin() as conn:
        conn.execute(
            items.update().where(items.c.path == "/old.jpg").values(user_metadata={"k": 1})
        )
    return by_path(catalog)


def change_bucket(bucket) -> None:
    """The bucket changes the events report: add, rewrite, rename, delete, hidden file."""
    bucket.put("new.jpg", b"new file")
    bucket.put("keep.jpg", b"keep, rewritten")
    bucket.move("old.jpg", "renamed.jpg")
    bucket.delete("gone.jpg")
    bucket.put(".tributary/thumbnails/new.jpg", b"generated")


def assert_catalog_follows(catalog, before, run) -> None:
    assert run.state == "success"
    after = by_path(catalog)
    assert set(after) == {"keep.jpg", "new.jpg", "renamed.jpg"}
    assert after["renamed.jpg"]["id"] == before["old.jpg"]["id"]
    assert after["renamed.jpg"]["user_metadata"] == {"k": 1}
    assert after["keep.jpg"]["id"] == before["keep.jpg"]["id"]
    assert after["keep.jpg"]["size"] == len(b"keep, rewritten")
    assert set(by_path(catalog, "ghost")) == {"gone.jpg"}
    with catalog.begin() as conn:
        last = syncs.history(conn, "ds", limit=1)[0]
    assert last["kind"] == "event" and last["status"] == "succeeded"
    assert (last["items_new"], last["items_renamed"], last["items_ghosted"]) == (1, 1, 1)
    (event,) = items_created_events(run)
    assert event["dataset"] == "ds" and event["count"] == 1


def shuffled_with_duplicates(payloads: list[dict]) -> list[dict]:
    return [*reversed(payloads), *payloads[:2]]


@pytest.mark.parametrize("catalog_url", ["sqlite", "postgres"], indirect=True)
def test_s3_notifications_through_sqs(airflow_db, catalog, moto, tmp_path):
    import boto3
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    bucket = new_bucket("s3", moto, tmp_path)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed test credentials
    )
    queue_url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    before = prepare_dataset(catalog, bucket)
    s3_client(moto).put_bucket_notification_configuration(
        Bucket=bucket.name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=queue_url,
        aws_conn_id="test_s3",
        max_messages=10,
        wait_time_seconds=1,
        waiter_delay=1,
    )
    drain(trigger, idle=3)  # whatever configuring the notification sent
    change_bucket(bucket)
    payloads = drain(trigger)
    assert sum(len(p["message_batch"]) for p in payloads) >= 5

    run = run_dag(DAG_ID, {"payloads": shuffled_with_duplicates(payloads)})

    assert_catalog_follows(catalog, before, run)

    # A late, older event does not undo a newer one: keep.jpg is deleted, then the
    # earlier "created" batch arrives again.
    time.sleep(0.01)
    bucket.delete("keep.jpg")
    deleted = drain(trigger)
    assert run_dag(DAG_ID, {"payloads": deleted}).state == "success"
    assert run_dag(DAG_ID, {"payloads": payloads}).state == "success"
    assert "keep.jpg" in by_path(catalog, "ghost")


def event_grid(kind: str, container: str, key: str, sequence: int, port: int) -> dict:
    """An Azure Blob event in Event Grid schema, as Event Grid writes to a storage queue."""
    return {
        "topic": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/"
        "storageAccounts/devstoreaccount1",
        "subject": f"/blobServices/default/containers/{container}/blobs/{key}",
        "eventType": f"Microsoft.Storage.Blob{kind}",
        "eventTime": dt.datetime.now(dt.UTC).isoformat(),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob" if kind == "Created" else "DeleteBlob",
            "url": f"http://127.0.0.1:{port}/devstoreaccount1/{container}/{key}",
            "sequencer": f"{sequence:032x}",
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def test_azure_blob_events_through_a_storage_queue(
    airflow_db, catalog, azurite, azurite_queue, tmp_path
):
    from azure.storage.queue import QueueClient

    from tributary.triggers.azure_queue import AzureStorageQueueTrigger

    bucket = new_bucket("azure", azurite, tmp_path)
    before = prepare_dataset(catalog, bucket)
    change_bucket(bucket)
    name = bucket.name
    events = [
        event_grid("Created", name, "new.jpg", 1, azurite.port),
        event_grid("Created", name, "keep.jpg", 2, azurite.port),
        event_grid("Created", name, "renamed.jpg", 3, azurite.port),
        event_grid("Deleted", name, "old.jpg", 4, azurite.port),
        event_grid("Deleted", name, "gone.jpg", 5, azurite.port),
        event_grid("Created", name, ".tributary/thumbnails/new.jpg", 6, azurite.port),
    ]
    queue_name = f"events-{uuid.uuid4().hex[:8]}"
    queue = QueueClient.from_connection_string(azurite_queue.connection_string, queue_name)
    queue.create_queue()
    for event in [*reversed(events), events[0], events[3]]:  # out of order, duplicated
        queue.send_message(base64.b64encode(json.dumps([event]).encode()).decode())

    payloads = drain(
        AzureStorageQueueTrigger(queue_name, conn_id="test_azure_queue", poll_interval=0.5),
        idle=3,
    )
    assert sum(len(p["azure_messages"]) for p in payloads) == 8
    assert not queue.peek_messages()  # received messages are deleted

    assert_catalog_follows(catalog, before, run_dag(DAG_ID, {"payloads": payloads}))


def gcs_notification(bucket_name: str, key: str, kind: str) -> dict:
    """A Pub/Sub message as GCS sends it, built from the object's real metadata."""
    from google.cloud.pubsub_v1.types import PubsubMessage, ReceivedMessage

    blob = gcs_client().bucket(bucket_name).get_blob(key) if kind == "OBJECT_FINALIZE" else None
    data = {"bucket": bucket_name, "name": key}
    generation = str(time.time_ns())
    if blob is not None:
        data.update(size=str(blob.size), md5Hash=blob.md5_hash, updated=blob.updated.isoformat())
        generation = str(blob.generation)
    return ReceivedMessage(
        ack_id=uuid.uuid4().hex,
        message=PubsubMessage(
            data=json.dumps(data).encode(),
            attributes={
                "eventType": kind,
                "bucketId": bucket_name,
                "objectId": key,
                "objectGeneration": generation,
            },
            message_id=uuid.uuid4().hex,
        ),
    )


def test_gcs_notifications_through_pubsub(airflow_db, catalog, gcs, tmp_path, monkeypatch):
    from airflow.providers.google.cloud.hooks.pubsub import PubSubAsyncHook
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    bucket = new_bucket("gcs", gcs, tmp_path)
    before = prepare_dataset(catalog, bucket)
    change_bucket(bucket)
    name = bucket.name
    messages = [
        gcs_notification(name, "new.jpg", "OBJECT_FINALIZE"),
        gcs_notification(name, "keep.jpg", "OBJECT_FINALIZE"),
        gcs_notification(name, "renamed.jpg", "OBJECT_FINALIZE"),
        gcs_notification(name, "old.jpg", "OBJECT_DELETE"),
        gcs_notification(name, "gone.jpg", "OBJECT_DELETE"),
        gcs_notification(name, ".tributary/thumbnails/new.jpg", "OBJECT_FINALIZE"),
    ]
    pulls = [list(reversed(messages)), messages[:2]]  # out of order, then duplicates
    acked = []

    async def fake_pull(self, **kwargs):
        return pulls.pop(0) if pulls else []

    async def fake_ack(self, **kwargs):
        acked.extend(kwargs.get("ack_ids") or kwargs.get("messages") or [])

    monkeypatch.setattr(PubSubAsyncHook, "pull", fake_pull)
    monkeypatch.setattr(PubSubAsyncHook, "acknowledge", fake_ack)
    trigger = PubsubPullTrigger(
        project_id="p",
        subscription="tributary",
        max_messages=100,
        ack_messages=True,
        gcp_conn_id="test_gcs",
        poke_interval=0.1,
        return_immediately=True,
    )
    payloads = [*drain(trigger, idle=1), *drain(trigger, idle=1)]
    assert sum(len(p["message"]) for p in payloads) == 8
    assert acked

    assert_catalog_follows(catalog, before, run_dag(DAG_ID, {"payloads": payloads}))

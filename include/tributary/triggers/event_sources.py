"""The bucket event queues ``tributary_event_sync`` watches, as Airflow AssetWatchers
(trigger factories: each queue entry becomes an Asset watched by its provider's trigger).

Configured with ``TRIBUTARY_EVENT_SOURCES``, a JSON list, one entry per queue::

    [{"provider": "s3", "name": "cams", "queue": "https://sqs.eu-west-1.amazonaws.com/1/q",
      "conn_id": "aws_default"},
     {"provider": "gcs", "name": "scans", "project": "p", "subscription": "tributary",
      "conn_id": "google_cloud_default"},
     {"provider": "azure", "name": "archive", "queue": "tributary-events",
      "conn_id": "wasb_default"}]

Optional per entry: ``poll_interval`` (seconds, default 30) and ``max_messages``.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAny, AssetWatcher

from tributary.errors import InvalidInput

PROVIDERS = ("s3", "gcs", "azure")


def _trigger(source: dict):
    provider = source.get("provider")
    poll = float(source.get("poll_interval", 30))
    if provider == "s3":
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        return MessageQueueTrigger(
            scheme="sqs",
            sqs_queue=source["queue"],
            aws_conn_id=source.get("conn_id", "aws_default"),
            max_messages=int(source.get("max_messages", 10)),
            wait_time_seconds=20,
            waiter_delay=int(poll),
        )
    if provider == "gcs":
        from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

        return PubsubPullTrigger(
            project_id=source["project"],
            subscription=source["subscription"],
            max_messages=int(source.get("max_messages", 100)),
            ack_messages=True,
            gcp_conn_id=source.get("conn_id", "google_cloud_default"),
            poke_interval=poll,
            return_immediately=False,
        )
    if provider == "azure":
        from tributary.triggers.azure_queue import AzureStorageQueueTrigger

        return AzureStorageQueueTrigger(
            queue_name=source["queue"],
            conn_id=source.get("conn_id", "wasb_default"),
            max_messages=int(source.get("max_messages", 32)),
            poll_interval=poll,
        )
    raise InvalidInput(f"event source provider must be one of {PROVIDERS}, not {provider!r}")


def event_assets(sources: list[dict]) -> list[Asset]:
    """One Asset per event queue, each watched by the queue's trigger."""
    assets = []
    for position, source in enumerate(sources):
        try:
            name = source.get("name") or f"{source.get('provider')}-{position}"
            trigger = _trigger(source)
        except KeyError as exc:
            raise InvalidInput(f"TRIBUTARY_EVENT_SOURCES entry {position}: missing {exc}") from exc
        assets.append(
            Asset(
                name=f"tributary_bucket_events_{name}",
                uri=f"x-tributary://bucket-events/{name}",  # x-: see tributary.assets
                watchers=[AssetWatcher(name=f"tributary_events_{name}", trigger=trigger)],
            )
        )
    return assets


def schedule_for(assets: list[Asset]):
    """Run on an event from any queue; without queues, only on demand."""
    return AssetAny(*assets) if assets else None

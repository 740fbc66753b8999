"""Watch an Azure Storage queue (where Event Grid delivers Blob events) for AssetWatchers.

The Microsoft Azure provider has no storage-queue trigger, so this is a small one::

    AssetWatcher(
        name="azure_blob_events",
        trigger=AzureStorageQueueTrigger(queue_name="tributary-events", conn_id="wasb_default"),
    )

Each batch of messages becomes one TriggerEvent ``{"status": "success", "azure_messages":
[content, …]}``. Messages are deleted once received (as the SQS trigger does): a dropped
event is caught by the nightly reconcile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


class AzureStorageQueueTrigger(BaseEventTrigger):
    """Poll one storage queue; yield each non-empty batch of message contents.

    The queue is reached through an Airflow ``wasb`` connection: its ``connection_string``
    extra (which must name a QueueEndpoint or the account), or its login (account name) and
    password (account key), with ``queue_account_url`` in the extra for a non-default
    endpoint.
    """

    def __init__(
        self,
        queue_name: str,
        conn_id: str = "wasb_default",
        max_messages: int = 32,
        poll_interval: float = 10.0,
        visibility_timeout: int = 60,
    ) -> None:
        super().__init__()
        self.queue_name = queue_name
        self.conn_id = conn_id
        self.max_messages = max_messages
        self.poll_interval = poll_interval
        self.visibility_timeout = visibility_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue_name": self.queue_name,
                "conn_id": self.conn_id,
                "max_messages": self.max_messages,
                "poll_interval": self.poll_interval,
                "visibility_timeout": self.visibility_timeout,
            },
        )

    async def _queue_client(self):
        from airflow.sdk import BaseHook
        from azure.storage.queue.aio import QueueClient

        connection = await BaseHook.aget_connection(self.conn_id)
        extra = connection.extra_dejson
        if extra.get("connection_string"):
            return QueueClient.from_connection_string(extra["connection_string"], self.queue_name)
        account_url = extra.get("queue_account_url") or (
            f"https://{connection.login}.queue.core.windows.net"
        )
        credential = extra.get("sas_token") or {
            "account_name": connection.login,
            "account_key": connection.password,
        }
        return QueueClient(account_url, self.queue_name, credential=credential)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with await self._queue_client() as client:
            while True:
                received = [
                    message
                    async for message in client.receive_messages(
                        messages_per_page=self.max_messages,
                        max_messages=self.max_messages,
                        visibility_timeout=self.visibility_timeout,
                    )
                ]
                if not received:
                    await asyncio.sleep(self.poll_interval)
                    continue
                for message in received:
                    await client.delete_message(message)
                self.log.info("Received %d messages from %s", len(received), self.queue_name)
                yield TriggerEvent(
                    {"status": "success", "azure_messages": [m.content for m in received]}
                )

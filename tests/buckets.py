"""Fresh buckets on each storage kind, seeded with the raw SDKs (not our adapters)."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests import emulators


@dataclass
class Bucket:
    """A new, empty bucket and how to write into it directly."""

    provider: str
    name: str
    conn_id: str | None
    emulator: emulators.Emulator | None = None

    def put(self, key: str, data: bytes) -> None:
        """Write an object (a key ending in '/' makes a folder marker)."""
        if self.provider == "local":
            target = Path(self.name) / key
            if key.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        elif self.provider == "s3":
            s3_client(self.emulator).put_object(Bucket=self.name, Key=key, Body=data)
        elif self.provider == "azure":
            azure_service(self.emulator).get_container_client(self.name).upload_blob(
                key, data, overwrite=True
            )
        elif self.provider == "gcs":
            gcs_client().bucket(self.name).blob(key).upload_from_string(data)

    def get(self, key: str) -> bytes:
        """Read an object."""
        if self.provider == "local":
            return (Path(self.name) / key).read_bytes()
        if self.provider == "s3":
            return s3_client(self.emulator).get_object(Bucket=self.name, Key=key)["Body"].read()
        if self.provider == "azure":
            container = azure_service(self.emulator).get_container_client(self.name)
            return container.download_blob(key).readall()
        return gcs_client().bucket(self.name).blob(key).download_as_bytes()

    def delete(self, key: str) -> None:
        """Delete an object."""
        if self.provider == "local":
            (Path(self.name) / key).unlink()
        elif self.provider == "s3":
            s3_client(self.emulator).delete_object(Bucket=self.name, Key=key)
        elif self.provider == "azure":
            azure_service(self.emulator).get_container_client(self.name).delete_blob(key)
        elif self.provider == "gcs":
            gcs_client().bucket(self.name).blob(key).delete()

    def move(self, old: str, new: str) -> None:
        """Rename an object the way each provider's tools do: a server-side copy and a
        delete (a filesystem rename for a local folder)."""
        if self.provider == "local":
            target = Path(self.name) / new
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(self.name) / old).rename(target)
            return
        if self.provider == "s3":
            s3_client(self.emulator).copy_object(
                Bucket=self.name, Key=new, CopySource={"Bucket": self.name, "Key": old}
            )
        elif self.provider == "azure":
            container = azure_service(self.emulator).get_container_client(self.name)
            source = container.get_blob_client(old)
            container.get_blob_client(new).start_copy_from_url(source.url, requires_sync=True)
        elif self.provider == "gcs":
            bucket = gcs_client().bucket(self.name)
            bucket.copy_blob(bucket.blob(old), bucket, new)
        self.delete(old)

    def expected_etag(self, data: bytes) -> str | None:
        """The etag the provider reports for ``data`` where it is a plain MD5."""
        if self.provider in ("s3", "gcs"):
            return hashlib.md5(data).hexdigest()  # noqa: S324 - what S3/GCS report
        return None


def s3_client(emulator):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=emulator.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed test credentials
        region_name="us-east-1",
    )


def azure_service(emulator):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        emulators.azurite_connection_string(emulator.port)
    )


def gcs_client():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="p", credentials=AnonymousCredentials())


def new_bucket(provider: str, emulator, tmp_path: Path) -> Bucket:
    """Create an empty bucket of ``provider`` with a unique name."""
    name = f"tb-{uuid.uuid4().hex[:12]}"
    if provider == "local":
        root = tmp_path / name
        root.mkdir()
        return Bucket("local", str(root), None)
    if provider == "s3":
        s3_client(emulator).create_bucket(Bucket=name)
        return Bucket("s3", name, "test_s3", emulator)
    if provider == "azure":
        azure_service(emulator).create_container(name)
        return Bucket("azure", name, "test_azure", emulator)
    if provider == "gcs":
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.endpoint
        gcs_client().create_bucket(name)
        return Bucket("gcs", name, "test_gcs", emulator)
    raise ValueError(provider)

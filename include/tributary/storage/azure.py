"""The Azure Blob Storage adapter, on the microsoft-azure provider's ``WasbHook``."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from functools import cached_property

from tributary.config import (
    listing_page_size,
    upload_concurrency,
    upload_multipart_threshold,
    upload_part_size,
)
from tributary.storage.base import (
    AccessDenied,
    BadCredentials,
    BucketNotFound,
    CloudStore,
    ConnectionNotFound,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    Unreachable,
)

# The SDK logs every request's headers at INFO.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


# How long a server-side copy may stay "pending" before it counts as failed (a copy within
# one account is usually done at once; a very large blob can take a while).
COPY_WAIT_SECONDS = 600

# A wrong key or token: real Azure says AuthenticationFailed, Azurite AuthorizationFailure.
# A valid token without the permission says AuthorizationPermissionMismatch (→ AccessDenied).
_BAD_CREDENTIALS = {"AuthenticationFailed", "AuthorizationFailure", "InvalidAuthenticationInfo"}


def _code(exc) -> str:
    code = exc.error_code
    return str(getattr(code, "value", code) or exc.status_code)


class AzureBlobStore(CloudStore):
    """A blob container reached through an Airflow ``wasb`` connection."""

    provider = "azure"

    @cached_property
    def container(self):
        """The SDK's ContainerClient for this container."""
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        with self._errors("connect"):
            service = WasbHook(wasb_conn_id=self.conn_id).get_conn()
        container = service.get_container_client(self.bucket)
        # Block uploads above the threshold, in blocks of the part size. The SDK reads these
        # from its client configuration only (constructor keywords the hook does not pass).
        container._config.max_single_put_size = upload_multipart_threshold()
        container._config.max_block_size = upload_part_size()
        return container

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        from airflow.exceptions import AirflowNotFoundException
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        target = f"azure://{self.bucket}/{key}"
        try:
            yield
        except ResourceNotFoundError as exc:
            if exc.error_code == "ContainerNotFound":
                raise BucketNotFound(f"container {self.bucket!r} does not exist") from exc
            raise ObjectNotFound(f"{target} does not exist") from exc
        except HttpResponseError as exc:
            code = _code(exc)
            if code in _BAD_CREDENTIALS:
                raise BadCredentials(
                    f"Azure rejected the credentials of connection {self.conn_id!r} ({code})"
                ) from exc
            if exc.status_code == 403:
                raise AccessDenied(f"{action} denied on {target} (Azure said {code})") from exc
            raise StorageError(f"{action} failed on {target}: Azure error {code}") from exc
        except AirflowNotFoundException as exc:  # the hook looked the connection up: none
            raise ConnectionNotFound(self.conn_id) from exc
        except ServiceRequestError as exc:
            raise Unreachable(f"Azure endpoint unreachable for container {self.bucket!r}") from exc
        except ValueError as exc:
            # The SDK raises ValueError for a malformed connection string or key.
            raise BadCredentials(
                f"connection {self.conn_id!r} is not a usable Azure credential"
            ) from exc

    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        with self._errors("list", prefix):
            if recursive:
                pages = self.container.list_blobs(
                    name_starts_with=prefix or None, results_per_page=listing_page_size()
                ).by_page()
            else:
                pages = [self.container.walk_blobs(name_starts_with=prefix or None, delimiter="/")]
            for page in pages:
                objects = [
                    ObjectInfo(
                        key=b.name,
                        size=b.size,
                        etag=_content_tag(b),
                        last_modified=b.last_modified,
                        content_type=b.content_settings.content_type,
                    )
                    for b in page
                    if hasattr(b, "size")  # walk_blobs also yields BlobPrefix entries
                ]
                if objects:
                    yield objects

    def list_subprefixes(self, prefix: str) -> list[str]:
        with self._errors("list", prefix):
            return [
                entry.name
                for entry in self.container.walk_blobs(
                    name_starts_with=prefix or None, delimiter="/"
                )
                if not hasattr(entry, "size")
            ]

    def head(self, key: str) -> ObjectInfo:
        with self._errors("get", key):
            props = self.container.get_blob_client(key).get_blob_properties()
        return ObjectInfo(
            key=key,
            size=props.size,
            etag=_content_tag(props),
            last_modified=props.last_modified,
            content_type=props.content_settings.content_type,
        )

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with self._errors("get", key):
            if start == 0 and length is None:
                return self.container.download_blob(key).readall()
            return self.container.download_blob(key, offset=start, length=length).readall()

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        from azure.storage.blob import ContentSettings

        tier = None if self.storage_class.lower() == "standard" else self.storage_class
        with self._errors("put", key):
            self.container.upload_blob(
                key,
                data,
                overwrite=True,
                standard_blob_tier=tier,
                content_settings=ContentSettings(content_type=content_type),
            )

    def _tier(self) -> str | None:
        return None if self.storage_class.lower() == "standard" else self.storage_class

    def write_stream(
        self, key: str, reader, *, size: int | None = None, content_type: str | None = None
    ) -> ObjectInfo:
        from azure.core import MatchConditions
        from azure.storage.blob import ContentSettings

        body = self.measured(reader, size, ("md5",))
        blob = self.container.get_blob_client(key)
        with self._errors("put", key):
            # One Put Blob up to the threshold; above it Put Block per part, then one Put
            # Block List: the blob appears whole or not at all (staged blocks expire).
            blob.upload_blob(
                body,
                length=size,
                overwrite=True,
                standard_blob_tier=self._tier(),
                content_settings=ContentSettings(content_type=content_type),
                max_concurrency=upload_concurrency(),
            )
            props = blob.get_blob_properties()
            if not props.content_settings.content_md5:
                # Azure keeps no MD5 of a blob made of blocks: record the one computed on
                # the way, so listings show the content's MD5 (as for S3 and GCS) and a
                # copy or a rename in the bucket keeps it. Only on the blob just written.
                blob.set_http_headers(
                    ContentSettings(content_type=content_type, content_md5=body.digest("md5")),
                    etag=props.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        return self.head(key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        source = self.container.get_blob_client(src_key)
        target = self.container.get_blob_client(dst_key)
        with self._errors("copy", src_key):
            # An asynchronous copy within the account: the account's own credentials
            # authorise the source, and no size limit applies (the synchronous copy from a
            # URL stops at 256 MiB). Properties, Content-MD5 included, come along.
            status = target.start_copy_from_url(source.url, standard_blob_tier=self._tier())[
                "copy_status"
            ]
            deadline = time.monotonic() + COPY_WAIT_SECONDS
            while status == "pending" and time.monotonic() < deadline:
                time.sleep(0.5)
                status = target.get_blob_properties().copy.status
        if status != "success":
            raise StorageError(f"copy of azure://{self.bucket}/{src_key} ended {status}")
        return self.head(dst_key)

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("delete", key), contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(key)


def _content_tag(blob) -> str | None:
    """The blob's Content-MD5 in hex when it has one (so a copy or a rename keeps it, as
    on S3 and GCS); the service etag otherwise, which changes with every write."""
    md5 = blob.content_settings.content_md5
    if md5:
        return bytes(md5).hex()
    return (blob.etag or "").strip('"') or None

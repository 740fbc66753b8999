"""The Azure Blob Storage adapter, on the microsoft-azure provider's ``WasbHook``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import cached_property

from tributary.config import listing_page_size
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
        return service.get_container_client(self.bucket)

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

"""The Google Cloud Storage adapter, on the google provider's ``GCSHook``."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from functools import cached_property

from tributary.config import listing_page_size, upload_multipart_threshold, upload_part_size
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

# Resumable upload chunks are whole multiples of this (the GCS API's rule).
CHUNK_UNIT = 256 * 1024


def md5_hex(md5_base64: str | None) -> str | None:
    """GCS gives MD5 in base64; S3 etags of simple uploads are the same MD5 in hex."""
    return base64.b64decode(md5_base64).hex() if md5_base64 else None


class GCSStore(CloudStore):
    """A GCS bucket reached through an Airflow ``google_cloud_platform`` connection."""

    provider = "gcs"

    @cached_property
    def client(self):
        """The google-cloud-storage Client (GCSHook wants keyword arguments)."""
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        with self._errors("connect"):
            return GCSHook(gcp_conn_id=self.conn_id).get_conn()

    @cached_property
    def _bucket(self):
        return self.client.bucket(self.bucket)

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        from airflow.exceptions import AirflowNotFoundException
        from google.api_core import exceptions as gexc
        from google.auth.exceptions import GoogleAuthError
        from requests.exceptions import ConnectionError as RequestsConnectionError

        target = f"gs://{self.bucket}/{key}"
        try:
            yield
        except gexc.NotFound as exc:
            if "bucket" in str(exc.message).lower() or not key:
                raise BucketNotFound(f"bucket {self.bucket!r} does not exist") from exc
            raise ObjectNotFound(f"{target} does not exist") from exc
        except gexc.Forbidden as exc:
            raise AccessDenied(f"{action} denied on {target} (GCS said 403 Forbidden)") from exc
        except gexc.Unauthorized as exc:
            raise BadCredentials(
                f"GCS rejected the credentials of connection {self.conn_id!r}"
            ) from exc
        except GoogleAuthError as exc:
            raise BadCredentials(
                f"connection {self.conn_id!r} has no usable Google credentials"
            ) from exc
        except AirflowNotFoundException as exc:  # the hook looked the connection up: none
            raise ConnectionNotFound(self.conn_id) from exc
        except RequestsConnectionError as exc:
            raise Unreachable(f"GCS endpoint unreachable for bucket {self.bucket!r}") from exc
        except gexc.GoogleAPICallError as exc:
            raise StorageError(f"{action} failed on {target}: GCS error {exc.code}") from exc

    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        with self._errors("list", prefix):
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=prefix or None,
                delimiter=None if recursive else "/",
                page_size=listing_page_size(),
            )
            for page in blobs.pages:
                objects = [
                    ObjectInfo(
                        key=b.name,
                        size=b.size or 0,
                        etag=md5_hex(b.md5_hash) or b.etag,
                        last_modified=b.updated,
                        content_type=b.content_type,
                    )
                    for b in page
                ]
                if objects:
                    yield objects

    def list_subprefixes(self, prefix: str) -> list[str]:
        with self._errors("list", prefix):
            blobs = self.client.list_blobs(
                self.bucket, prefix=prefix or None, delimiter="/", page_size=listing_page_size()
            )
            prefixes: set[str] = set()
            for page in blobs.pages:
                prefixes.update(page.prefixes)
            return sorted(prefixes)

    def head(self, key: str) -> ObjectInfo:
        with self._errors("get", key):
            blob = self._bucket.get_blob(key)
        if blob is None:
            raise ObjectNotFound(f"{self.location}{key} does not exist")
        return ObjectInfo(
            key=key,
            size=blob.size,
            etag=md5_hex(blob.md5_hash) or blob.etag,
            last_modified=blob.updated,
            content_type=blob.content_type,
        )

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        end = None if length is None else start + length - 1
        with self._errors("get", key):
            return self._bucket.blob(key).download_as_bytes(start=start or None, end=end)

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        with self._errors("put", key):
            self._bucket.blob(key).upload_from_string(data, content_type=content_type)

    def write_stream(
        self, key: str, reader, *, size: int | None = None, content_type: str | None = None
    ) -> ObjectInfo:
        body = self.measured(reader, size)
        blob = self._bucket.blob(key)
        if self.storage_class.lower() != "standard":
            blob.storage_class = self.storage_class.upper()
        declared = size
        if size is None or size > upload_multipart_threshold():
            # A resumable upload, one chunk in memory at a time (without a chunk size the
            # client would buffer 100 MiB chunks). The client picks a one-request upload
            # for any size it is told up to 8 MiB, so it is not told (the reader holds the
            # body to its size anyway).
            blob.chunk_size = -(-upload_part_size() // CHUNK_UNIT) * CHUNK_UNIT
            declared = None
        with self._errors("put", key):
            blob.upload_from_file(body, size=declared, content_type=content_type)
        return self.head(key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        self.head(src_key)  # a missing source said as such (GCS's 404 does not say which)
        source = self._bucket.blob(src_key)
        target = self._bucket.blob(dst_key)
        with self._errors("copy", src_key):
            # Rewrite, not copy: it works for any size and storage class, a call at a time.
            token, _, _ = target.rewrite(source)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token)
        return self.head(dst_key)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with self._errors("delete", key), contextlib.suppress(NotFound):
            self._bucket.blob(key).delete()

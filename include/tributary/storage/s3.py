"""The AWS S3 adapter, on the amazon provider's ``S3Hook`` (any S3-compatible endpoint)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from functools import cached_property

from tributary.config import (
    copy_multipart_threshold,
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

_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}


class S3Store(CloudStore):
    """An S3 bucket reached through an Airflow ``aws`` connection."""

    provider = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        conn_id: str,
        region: str | None = None,
        storage_class: str = "standard",
    ) -> None:
        super().__init__(bucket, prefix, conn_id=conn_id, storage_class=storage_class)
        self.region = region

    @cached_property
    def client(self):
        """The boto3 S3 client, with bounded timeouts so a dead endpoint fails fast."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
        hook = S3Hook(aws_conn_id=self.conn_id, region_name=self.region, config=config)
        return hook.get_conn()

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        target = f"s3://{self.bucket}/{key}"
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket":
                raise BucketNotFound(f"bucket {self.bucket!r} does not exist") from exc
            if code in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"{target} does not exist") from exc
            if code in _DENIED:
                raise AccessDenied(f"{action} denied on {target} (S3 said {code})") from exc
            if code in _BAD_CREDENTIALS:
                raise BadCredentials(
                    f"S3 rejected the credentials of connection {self.conn_id!r} ({code})"
                ) from exc
            raise StorageError(f"{action} failed on {target}: S3 error {code}") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            # S3Hook falls back to boto's own credential chain when the connection does not
            # exist; with nothing there either, the cause is the missing connection.
            if self.connection_missing():
                raise ConnectionNotFound(self.conn_id) from exc
            raise BadCredentials(
                f"connection {self.conn_id!r} has no usable AWS credentials"
            ) from exc
        except (EndpointConnectionError, BotoConnectionError) as exc:
            raise Unreachable(f"S3 endpoint unreachable for bucket {self.bucket!r}") from exc

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            yield from paginator.paginate(
                **kwargs, PaginationConfig={"PageSize": listing_page_size()}
            )

    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        for page in self._pages(prefix, None if recursive else "/"):
            objects = [
                ObjectInfo(
                    key=o["Key"],
                    size=o["Size"],
                    etag=o.get("ETag", "").strip('"') or None,
                    last_modified=o.get("LastModified"),
                )
                for o in page.get("Contents", ())
            ]
            if objects:
                yield objects

    def list_subprefixes(self, prefix: str) -> list[str]:
        return [
            p["Prefix"] for page in self._pages(prefix, "/") for p in page.get("CommonPrefixes", ())
        ]

    def head(self, key: str) -> ObjectInfo:
        with self._errors("get", key):
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response.get("ETag", "").strip('"') or None,
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
        )

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        kwargs = {"Bucket": self.bucket, "Key": key}
        if start or length is not None:
            end = "" if length is None else start + length - 1
            kwargs["Range"] = f"bytes={start}-{end}"
        with self._errors("get", key):
            return self.client.get_object(**kwargs)["Body"].read()

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        kwargs = {"Bucket": self.bucket, "Key": key, "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        if self.storage_class and self.storage_class.lower() != "standard":
            kwargs["StorageClass"] = self.storage_class.upper()
        with self._errors("put", key):
            self.client.put_object(**kwargs)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def _transfer_config(self, *, copy: bool = False):
        """boto3's transfer manager settings: multipart above the threshold, a bounded
        number of parts in flight and in memory (concurrency + 1 parts at most). A copy
        moves no bytes through this process: one request up to its own threshold, and
        parts 8 times larger above it."""
        from boto3.s3.transfer import TransferConfig

        concurrency = upload_concurrency()
        config = TransferConfig(
            multipart_threshold=copy_multipart_threshold()
            if copy
            else upload_multipart_threshold(),
            multipart_chunksize=upload_part_size() * (8 if copy else 1),
            max_concurrency=concurrency,
            use_threads=concurrency > 1,
            preferred_transfer_client="classic",
        )
        # A body that cannot seek is buffered part by part: this bounds how many parts.
        config.max_in_memory_upload_chunks = concurrency + 1
        return config

    def _extra_args(self, content_type: str | None) -> dict:
        extra = {}
        if content_type:
            extra["ContentType"] = content_type
        if self.storage_class and self.storage_class.lower() != "standard":
            extra["StorageClass"] = self.storage_class.upper()
        return extra

    def write_stream(
        self, key: str, reader, *, size: int | None = None, content_type: str | None = None
    ) -> ObjectInfo:
        body = self.measured(reader, size)
        threshold = upload_multipart_threshold()
        if size is None or size <= threshold:
            # Up to the threshold, one PutObject: its answer carries the etag (no HEAD, no
            # transfer manager). One byte more tells a body that goes on: it goes in parts.
            data = body.read(threshold + 1)
            if len(data) <= threshold:
                return self._put(key, data, content_type)
            body = _Prefixed(data, body)
        with self._errors("put", key):
            # A failed multipart upload is aborted by the transfer manager: no parts linger.
            self.client.upload_fileobj(
                body,
                self.bucket,
                key,
                ExtraArgs=self._extra_args(content_type),
                Config=self._transfer_config(),
            )
        # The etag S3 computed (``<md5 of md5s>-<parts>``): what listings show.
        return self.head(key)

    def _put(self, key: str, data: bytes, content_type: str | None) -> ObjectInfo:
        """One PutObject; the object's facts from its answer (the etag a listing shows,
        the time S3 answered for its modification time)."""
        with self._errors("put", key):
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, **self._extra_args(content_type)
            )
        answered = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=response.get("ETag", "").strip('"') or None,
            last_modified=parsedate_to_datetime(answered) if answered else None,
            content_type=content_type,
        )

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        with self._errors("copy", src_key):
            # The managed copy: one CopyObject, or a multipart copy above the threshold
            # (CopyObject stops at 5 GB); content type and metadata are kept.
            self.client.copy(
                {"Bucket": self.bucket, "Key": src_key},
                self.bucket,
                dst_key,
                # A checksum of the copy itself: a copied multipart checksum would be taken
                # for a whole-object one and fail every checksummed read of the copy.
                ExtraArgs={**self._extra_args(None), "ChecksumAlgorithm": "CRC32"},
                Config=self._transfer_config(copy=True),
            )
        return self.head(dst_key)


class _Prefixed:
    """A body whose first bytes were already read: those, then the rest (never short)."""

    def __init__(self, head: bytes, rest) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1, /) -> bytes:
        if not self._head:
            return self._rest.read(n)
        if n is None or n < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:n], self._head[n:]
        if len(data) < n:
            data += self._rest.read(n - len(data))
        return data

"""The Python client of Tributary's REST API (``/tributary/api/v1`` on the Airflow API server).

Stdlib and httpx only, so that it imports in a few milliseconds on a laptop with no
Airflow installed: the ``tributary`` CLI's platform commands (upload, meta, delete, …) are
built on it.

    from tributary.client import Client

    tributary = Client("http://airflow:8080", user="admin", password="…")
    for item in tributary.iter_items("photos", prefix="/cam1/"):
        ...
    tributary.upload_tree("photos", ["./shots"], to="/2026/")

Logging in: a ``token`` (an Airflow JWT) is used as given; otherwise a ``user`` and
``password`` (or the ``user:password@`` written into the URL) are exchanged for one at
Airflow's ``POST /auth/token``, and again once if the token expires. The URL shown in
messages never holds the password. ``Client.from_env()`` reads the settings the CLI uses:
``TRIBUTARY_AIRFLOW_URL``, ``TRIBUTARY_AIRFLOW_USER``, ``TRIBUTARY_AIRFLOW_PASSWORD``.

Every error the server answers is a ``ClientError`` subclass named after its status, whose
message is one line (the server's ``detail``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import httpx

from tributary.airflow_rest import AirflowClient, split_credentials
from tributary.config import HIDDEN_FOLDER
from tributary.errors import TributaryError

API_PREFIX = "/tributary/api/v1"
CHUNK = 1024 * 1024  # what one read of an uploaded file or a download hands over
# After the body, the server may still be finishing a large write (a multipart upload, a
# copy into place): the wait for its answer grows with the file.
UPLOAD_READ_TIMEOUT = 600.0
UPLOAD_READ_SECONDS_PER_BYTE = 1 / 2_000_000
UPLOAD_ATTEMPTS = 3  # an upload is idempotent (same content is skipped): safe to resend


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave as it is", where None means "clear" (an item's description)


# -- errors --------------------------------------------------------------------------------


class ClientError(TributaryError):
    """The server refused a request, or could not be reached. ``status`` is the HTTP
    status (None when unreachable), ``detail`` the server's one-line reason."""

    permanent = True

    def __init__(self, status: int | None, detail: str) -> None:
        self.status = status
        self.detail = _one_line(detail)
        super().__init__(self.detail)


class Unauthorized(ClientError):
    """401: no token, a wrong or expired one, or a refused login."""

    permanent = True


class Forbidden(ClientError):
    """403: the user may not do this (a Viewer writing, for one)."""

    permanent = True


class NotFound(ClientError):
    """404: no such dataset, driver, item or sync run."""

    permanent = True


class Conflict(ClientError):
    """409: a different file at the path, a taken name, or a platform rule refused it."""

    permanent = True


class TooLarge(ClientError):
    """413: the upload exceeds the server's size limit."""

    permanent = True


class Invalid(ClientError):
    """422 (or 400): a malformed value — a hostile path, bad JSON, an unknown filter."""

    permanent = True


class QuotaExceeded(ClientError):
    """507: the dataset's or the catalog's data-point quota is full."""

    permanent = True


class ServerUnreachable(ClientError):
    """No answer (connection refused, timeout), or a server failure (5xx)."""

    permanent = False


class FileChanged(ClientError):
    """A local file changed while it was uploaded: the upload was abandoned."""

    permanent = False


class UploadInterrupted(Exception):
    """Raised from a file's body while it is sent, once ``upload_tree`` was interrupted."""


_BY_STATUS: dict[int, type[ClientError]] = {
    400: Invalid,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    507: QuotaExceeded,
}


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _detail(response: httpx.Response) -> str:
    """The server's ``{"detail": …}``, or what else it said, as one line."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        detail = response.text.strip() or response.reason_phrase
    if not isinstance(detail, str):
        # FastAPI's own validation errors: a list of {"loc", "msg"}.
        if isinstance(detail, list):
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                if isinstance(e, dict)
                else str(e)
                for e in detail
            )
        else:
            detail = json.dumps(detail)
    return detail


def error_for(response: httpx.Response) -> ClientError:
    """The ``ClientError`` for a 4xx/5xx answer."""
    status = response.status_code
    detail = _detail(response)
    kind = _BY_STATUS.get(status)
    if kind is None:
        kind = ServerUnreachable if status >= 500 else ClientError
        detail = f"HTTP {status}: {detail}"
    return kind(status, detail)


# -- results -------------------------------------------------------------------------------


@dataclass
class UploadResult:
    """What happened to one local file: created, skipped, replaced, conflict or error."""

    local: str
    path: str
    status: str
    size: int = 0
    item: dict | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """A conflict or an error: the file is not (or not as it is now) in the dataset."""
        return self.status in ("conflict", "error")

    def as_dict(self) -> dict:
        """JSON-ready: what ``tributary upload --json`` prints per file."""
        record = {"local": self.local, "path": self.path, "status": self.status}
        record["size"] = self.size
        if self.item is not None:
            record["item"] = self.item
        if self.error is not None:
            record["error"] = self.error
        return record


@dataclass
class UploadEvent:
    """A progress report from ``upload_tree`` about the file at item path ``path``:
    ``nbytes`` more of it sent, or (with ``result``) it is finished. A file resent after a
    dropped connection reports its bytes again; its size is in ``result.size``."""

    path: str
    nbytes: int = 0
    result: UploadResult | None = None


@dataclass
class UploadPlan:
    """The files ``upload_tree`` will send: (local file, item path, size) and what was
    left out (symlinks, the hidden folder), known before any byte is sent."""

    files: list[tuple[Path, str, int]] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """The sum of the files' sizes."""
        return sum(size for _, _, size in self.files)


# -- the client ----------------------------------------------------------------------------


class Client:
    """One Tributary API server (the Airflow API server that mounts it), logged in once.

    Thread-safe: ``upload_tree`` shares one client (one connection pool) between its
    worker threads.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base, url_user, url_password = split_credentials(url)
        self.url = base.rstrip("/")  # shown in messages: never a password in it
        self.user = user if user is not None else url_user
        self._password = password if password is not None else url_password
        self._token = token
        self._login_lock = threading.Lock()
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, *, timeout: float = 30.0) -> Client:
        """The API server and login the ``tributary`` CLI uses: ``TRIBUTARY_AIRFLOW_URL``
        (default ``http://localhost:8080``), ``TRIBUTARY_AIRFLOW_USER`` /
        ``TRIBUTARY_AIRFLOW_PASSWORD`` (or the login written into the URL), or a token in
        ``TRIBUTARY_API_TOKEN``."""
        settings = AirflowClient.from_env()
        token = os.environ.get("TRIBUTARY_API_TOKEN") or None
        return cls(
            settings.base_url,
            token=token,
            user=settings.username,
            password=settings.password,
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r}, user={self.user!r})"

    # -- transport ---------------------------------------------------------------------

    def login(self) -> str:
        """A fresh token from Airflow's ``POST /auth/token`` (kept for later requests)."""
        if not self.user:
            raise Unauthorized(
                401, f"no token and no user to log in to {self.url} with: give a token or a user"
            )
        body = {"username": self.user, "password": self._password or ""}
        response = self._send("POST", "/auth/token", json=body, authorised=False)
        if response.status_code in (400, 401, 403):
            raise Unauthorized(
                response.status_code,
                f"Airflow at {self.url} refused the login of user {self.user!r}: "
                "check the user and password (TRIBUTARY_AIRFLOW_USER, TRIBUTARY_AIRFLOW_PASSWORD)",
            )
        if response.status_code >= 400:
            raise error_for(response)
        try:
            self._token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ServerUnreachable(
                response.status_code, f"{self.url}/auth/token answered no access_token"
            ) from None
        return self._token

    def _headers(self) -> dict[str, str]:
        with self._login_lock:  # one login, however many threads start at once
            if self._token is None:
                self.login()
            return {"Authorization": f"Bearer {self._token}"}

    def _send(
        self, method: str, path: str, *, authorised: bool = True, stream: bool = False, **kwargs
    ) -> httpx.Response:
        """One request; a transport failure becomes ``ServerUnreachable``."""
        headers = dict(kwargs.pop("headers", None) or {})
        if authorised:
            headers.update(self._headers())
        try:
            request = self._http.build_request(method, path, headers=headers, **kwargs)
            return self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                None, f"Tributary's API at {self.url} did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                None,
                f"Tributary's API is not reachable at {self.url} ({type(exc).__name__}): is "
                "Airflow's API server running there? (set TRIBUTARY_AIRFLOW_URL)",
            ) from None

    def _request(
        self,
        method: str,
        route: str,
        *,
        stream: bool = False,
        body: Callable[[], dict] | None = None,
        **kwargs,
    ) -> httpx.Response:
        """A request to the API (``route`` under ``/tributary/api/v1``), logged in; on a
        401 with a login at hand, logs in again once and resends. ``body``, if given, makes
        the keyword arguments of each attempt (a streamed body cannot be sent twice)."""
        for attempt in (1, 2):
            extra = body() if body is not None else {}
            response = self._send(method, API_PREFIX + route, stream=stream, **kwargs, **extra)
            if response.status_code == 401 and attempt == 1 and self.user:
                response.close()
                with self._login_lock:
                    self._token = None
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                raise error_for(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, route: str, **kwargs) -> Any:
        response = self._request(method, route, **kwargs)
        return response.json() if response.content else {}

    # -- datasets and drivers ------------------------------------------------------------

    def datasets(self) -> list[dict]:
        """Every dataset."""
        return self._json("GET", "/datasets")["datasets"]

    def dataset(self, name: str) -> dict:
        """One dataset, as ``tributary dataset show`` describes it."""
        return self._json("GET", f"/datasets/{_segment(name)}")

    def create_dataset(
        self,
        name: str,
        *,
        driver: str | None = None,
        quota: int | None = None,
        sync: bool | None = None,
        folder: str | None = None,
    ) -> dict:
        """A new dataset: on a driver (external storage) or, without one, internal."""
        body = _without_none({"name": name, "driver": driver, "quota": quota, "sync": sync})
        if folder is not None:
            body["folder"] = folder
        return self._json("POST", "/datasets", json=body)

    def update_dataset(self, name: str, **settings: Any) -> dict:
        """Change a dataset's settings (``ghost_grace_days``, ``mass_delete_threshold``,
        ``sync_enabled``, ``lane``)."""
        return self._json("PATCH", f"/datasets/{_segment(name)}", json=settings)

    def quota(self, dataset: str) -> dict:
        """A dataset's data-point quota and use."""
        return self._json("GET", f"/datasets/{_segment(dataset)}/quota")

    def set_quota(self, dataset: str, limit: int | None) -> dict:
        """Set (or, with None, lift) a dataset's data-point quota."""
        return self._json("PUT", f"/datasets/{_segment(dataset)}/quota", json={"limit": limit})

    def drivers(self) -> list[dict]:
        """Every storage driver."""
        return self._json("GET", "/drivers")["drivers"]

    def driver(self, name: str) -> dict:
        """One storage driver."""
        return self._json("GET", f"/drivers/{_segment(name)}")

    def check_driver(self, name: str) -> dict:
        """Probe a driver's permissions now; the probe's report."""
        return self._json("POST", f"/drivers/{_segment(name)}/check")

    def clone(self, source: str, target: str, *, driver: str | None = None) -> dict:
        """A new dataset ``target`` with ``source``'s items (metadata, not binaries, where
        the storage is the same)."""
        body = _without_none({"target": target, "driver": driver})
        return self._json("POST", f"/datasets/{_segment(source)}/clone", json=body)

    # -- items ---------------------------------------------------------------------------

    def items(
        self,
        dataset: str,
        *,
        after: str | None = None,
        limit: int = 100,
        state: str | None = None,
        preprocess_state: str | None = None,
        mimetype: str | None = None,
        prefix: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict:
        """One page of items: ``{"items": [...], "next": cursor or None}``. ``metadata``
        filters on user metadata, key -> value (all must match)."""
        params: list[tuple[str, str]] = [
            (key, str(value))
            for key, value in (
                ("after", after),
                ("limit", limit),
                ("state", state),
                ("preprocess_state", preprocess_state),
                ("mimetype", mimetype),
                ("prefix", prefix),
                ("name", name),
            )
            if value is not None
        ]
        for key, value in (metadata or {}).items():
            shown = value if isinstance(value, str) else json.dumps(value)
            params.append(("meta", f"{key}={shown}"))
        return self._json("GET", f"/datasets/{_segment(dataset)}/items", params=params)

    def iter_items(self, dataset: str, *, page_size: int = 1000, **filters: Any) -> Iterator[dict]:
        """Every item matching ``filters`` (those of ``items``), page after page (keyset
        pages: stable while items are added)."""
        after = None
        while True:
            page = self.items(dataset, after=after, limit=page_size, **filters)
            yield from page["items"]
            after = page.get("next")
            if not after:
                return

    def item(self, dataset: str, item_id: int) -> dict:
        """One item by id."""
        return self._json("GET", f"/datasets/{_segment(dataset)}/items/{int(item_id)}")

    def item_by_path(self, dataset: str, path: str) -> dict:
        """One item by its dataset path (``/a/b.jpg``)."""
        route = f"/datasets/{_segment(dataset)}/items/by-path"
        return self._json("GET", route, params={"path": path})

    def edit_item(
        self,
        dataset: str,
        item_id: int,
        *,
        metadata: dict[str, Any] | None = None,
        remove: Iterable[str] = (),
        replace: bool = False,
        description: str | None = UNSET,
    ) -> dict:
        """Set user metadata keys (merged, or with ``replace`` instead of all of them),
        ``remove`` keys, set the description (None clears it); the item after."""
        body: dict[str, Any] = {}
        if metadata is not None:
            body["metadata"] = metadata
        remove = list(remove)
        if remove:
            body["remove"] = remove
        if replace:
            body["replace"] = True
        if description is not UNSET:
            body["description"] = description
        route = f"/datasets/{_segment(dataset)}/items/{int(item_id)}"
        return self._json("PATCH", route, json=body)

    def delete_item(self, dataset: str, item_id: int) -> dict:
        """Delete an item from the dataset: ``{"item", "bucket_file"}`` where
        ``bucket_file`` says what happens to its file: deleting, kept or internal."""
        return self._json("DELETE", f"/datasets/{_segment(dataset)}/items/{int(item_id)}")

    def restore_item(self, dataset: str, item_id: int) -> dict:
        """Bring a deleted item back; the item."""
        route = f"/datasets/{_segment(dataset)}/items/{int(item_id)}/restore"
        return self._json("POST", route)

    def move_item(self, dataset: str, item_id: int, new_path: str) -> dict:
        """Move or rename an item (internal datasets only); the item."""
        route = f"/datasets/{_segment(dataset)}/items/{int(item_id)}/move"
        return self._json("POST", route, json={"path": new_path})

    def apply_metadata(self, dataset: str, source: str | os.PathLike | bytes) -> dict:
        """Bulk user metadata from a JSONL or CSV file (by its extension; ``bytes`` are
        read as JSONL): ``{"applied": n, "errors": [{"line", "error"}]}``. The file is
        streamed, never read whole."""
        route = f"/datasets/{_segment(dataset)}/metadata"
        if isinstance(source, bytes):
            headers = {"Content-Type": "application/x-ndjson"}
            return self._json("POST", route, content=source, headers=headers)
        local = Path(source)
        kind = "text/csv" if local.suffix.lower() == ".csv" else "application/x-ndjson"
        size = local.stat().st_size

        def body() -> dict:
            return {"content": _read_chunks(local)}

        headers = {"Content-Type": kind, "Content-Length": str(size)}
        return self._json("POST", route, headers=headers, body=body)

    # -- content -------------------------------------------------------------------------

    @contextlib.contextmanager
    def open_content(
        self, dataset: str, item_id: int, *, start: int | None = None, end: int | None = None
    ) -> Iterator[httpx.Response]:
        """The item's bytes as a streamed response (``iter_bytes()``), optionally bytes
        ``start``..``end`` inclusive (an HTTP Range; ``end`` None: to the end)."""
        headers = {}
        if start is not None or end is not None:
            headers["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        route = f"/datasets/{_segment(dataset)}/items/{int(item_id)}/content"
        response = self._request("GET", route, stream=True, headers=headers)
        try:
            yield response
        finally:
            response.close()

    def download(
        self,
        dataset: str,
        item_id: int,
        destination: str | os.PathLike | BinaryIO,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> int:
        """Write the item's bytes (or a range of them) to a file path or a binary file
        object, streamed; the number of bytes written."""
        written = 0
        with (
            self.open_content(dataset, item_id, start=start, end=end) as response,
            _writable(destination) as out,
        ):
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                written += len(chunk)
        return written

    def thumbnail(self, dataset: str, item_id: int) -> bytes:
        """The item's thumbnail (JPEG bytes)."""
        route = f"/datasets/{_segment(dataset)}/items/{int(item_id)}/thumbnail"
        return self._request("GET", route).content

    # -- syncs ---------------------------------------------------------------------------

    def syncs(self, dataset: str) -> list[dict]:
        """The dataset's sync runs, newest first."""
        return self._json("GET", f"/datasets/{_segment(dataset)}/syncs")["syncs"]

    def sync_run(self, dataset: str, sync_id: int) -> dict:
        """One sync run, with a dry run's plan."""
        return self._json("GET", f"/datasets/{_segment(dataset)}/syncs/{int(sync_id)}")

    def trigger_sync(
        self, dataset: str, *, dry_run: bool = False, allow_mass_delete: bool = False
    ) -> dict:
        """Start an upstream sync of the dataset: ``{"dag_id", "dag_run_id"}``."""
        body = {"dry_run": dry_run, "allow_mass_delete": allow_mass_delete}
        return self._json("POST", f"/datasets/{_segment(dataset)}/sync", json=body)

    def trigger_preprocess(self, dataset: str, *, force: bool = False) -> dict:
        """Start preprocessing the dataset's pending items: ``{"dag_id", "dag_run_id"}``."""
        return self._json(
            "POST", f"/datasets/{_segment(dataset)}/preprocess", json={"force": force}
        )

    # -- uploads -------------------------------------------------------------------------

    def upload_file(
        self,
        dataset: str,
        local_path: str | os.PathLike,
        path: str,
        *,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        on_bytes: Callable[[int], None] | None = None,
    ) -> dict:
        """Upload one local file to the dataset at item path ``path`` (``/a/b.jpg``):
        ``{"status": "created"|"skipped"|"replaced", "item"}``.

        The file is streamed from disk, never held in memory. Its SHA-256 is computed
        first (one streamed read) and sent as ``X-Tributary-SHA256``, so the server skips a
        file it already has without storing the body again. If the file changes while it
        is sent, the request is cut short (the server never sees a whole body) and
        ``FileChanged`` is raised. A different file at the path raises ``Conflict`` unless
        ``overwrite``. ``on_bytes(n)`` is called as bytes go out.
        """
        local = Path(local_path)
        size, digest, version = _size_and_sha256(local)
        headers = {
            "Content-Length": str(size),
            "Content-Type": mimetypes.guess_type(local.name)[0] or "application/octet-stream",
            "X-Tributary-SHA256": digest,
        }
        if metadata:
            # ensure_ascii: a header is Latin-1 on the wire; JSON escapes keep it ASCII.
            headers["X-Tributary-Metadata"] = json.dumps(metadata, separators=(",", ":"))
        route = f"/datasets/{_segment(dataset)}/files/{_file_route(path)}"
        params = {"overwrite": "true"} if overwrite else None
        wait = UPLOAD_READ_TIMEOUT + size * UPLOAD_READ_SECONDS_PER_BYTE
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, wait))

        def body() -> dict:
            return {"content": _unchanged_chunks(local, size, version, on_bytes)}

        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                response = self._request(
                    "PUT", route, headers=headers, params=params, timeout=timeout, body=body
                )
                return response.json()
            except ServerUnreachable as exc:
                # Resending is safe: the same content at the same path is "skipped".
                if attempt == UPLOAD_ATTEMPTS or (exc.status is not None and exc.status < 502):
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def upload_tree(
        self,
        dataset: str,
        paths: Iterable[str | os.PathLike],
        *,
        to: str = "/",
        jobs: int = 4,
        overwrite: bool = False,
        metadata: dict[str, Any] | None = None,
        progress: Callable[[UploadEvent], None] | None = None,
        on_progress: Callable[[UploadEvent], None] | None = None,
        plan: UploadPlan | None = None,
    ) -> list[UploadResult]:
        """Upload files and whole folders (recursively, structure kept) under ``to``, with
        ``jobs`` files in flight at once; one ``UploadResult`` per file, in the order they
        finished.

        A conflict or a failure of one file never stops the others: each is a result. A
        refused login or a missing dataset raise before any file is sent; a forbidden write
        (true of every file) leaves the files not yet sent unsent, each result saying why.
        Symlinks are not followed (left out, listed in the plan); the hidden folder
        ``.tributary`` is left out. A folder keeps its own name (``photos`` uploads as
        ``{to}photos/…``); ``.`` uploads the current folder's contents.
        ``progress(UploadEvent)`` (or ``on_progress``) is called from the worker threads;
        ``plan`` is ``plan_upload(paths, to=to)`` made beforehand (to show totals).
        """
        plan = plan or plan_upload(paths, to=to)
        self.dataset(dataset)  # logs in, and a missing dataset is one error, not N
        report = progress or on_progress or (lambda event: None)
        refused: list[str] = []  # why every file is refused, once one was
        interrupted = threading.Event()  # Ctrl-C: files being sent stop at their next chunk

        def sent(path: str, n: int) -> None:
            if interrupted.is_set():
                raise UploadInterrupted(path)  # from the body: the request is cut short
            report(UploadEvent(path, nbytes=n))

        def one(local: Path, path: str, size: int) -> UploadResult:
            result = UploadResult(str(local), path, "error", size)
            if refused:
                result.error = f"not sent: {refused[0]}"
                report(UploadEvent(path, result=result))
                return result
            try:
                answer = self.upload_file(
                    dataset,
                    local,
                    path,
                    metadata=metadata,
                    overwrite=overwrite,
                    on_bytes=lambda n: sent(path, n),
                )
                result.status, result.item = answer["status"], answer.get("item")
            except Conflict as exc:
                result.status, result.error = "conflict", str(exc)
            except (Unauthorized, Forbidden) as exc:
                refused.append(str(exc))
                result.error = str(exc)
            except (ClientError, OSError) as exc:
                result.error = _file_error(exc)
            report(UploadEvent(path, result=result))
            return result

        results: list[UploadResult] = []
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="upload") as pool:
            futures = [pool.submit(one, *entry) for entry in plan.files]
            try:
                for future in as_completed(futures):
                    results.append(future.result())
            except BaseException:  # KeyboardInterrupt, most likely: stop, do not drain
                interrupted.set()
                for future in futures:
                    future.cancel()
                raise
        return results


# -- planning an upload --------------------------------------------------------------------


def plan_upload(paths: Iterable[str | os.PathLike], *, to: str = "/") -> UploadPlan:
    """The files under ``paths`` and their item paths under folder ``to``.

    Folders are walked recursively without following symlinks; a symlink (to a file or a
    folder) is left out and listed; the hidden folder ``.tributary`` is left out. Raises
    ``FileNotFoundError`` for a path that does not exist and ``Invalid`` for a bad ``to``.
    """
    folder = _folder(to)
    plan = UploadPlan()
    for given in paths:
        local = Path(given)
        if local.is_symlink():
            plan.skipped_links.append(str(local))
            continue
        if local.is_file():
            plan.files.append((local, str(folder / local.name), local.stat().st_size))
        elif local.is_dir():
            # A folder keeps its name, like `cp -r`; "." (or "..") means its contents.
            name = local.resolve().name if local.name in ("", ".", "..") else local.name
            inside = folder if local.name in ("", ".", "..") else folder / name
            _walk(local, inside, plan)
        else:
            raise FileNotFoundError(2, "No such file or folder", str(local))
    return plan


def _walk(root: Path, inside: PurePosixPath, plan: UploadPlan) -> None:
    for current, folders, files in os.walk(root, followlinks=False):
        here = Path(current)
        relative = here.relative_to(root).parts
        folders[:] = sorted(f for f in folders if f != HIDDEN_FOLDER)
        for name in folders:
            if (here / name).is_symlink():
                plan.skipped_links.append(str(here / name))
        for name in sorted(files):
            local = here / name
            if local.is_symlink():
                plan.skipped_links.append(str(local))
                continue
            if not local.is_file():  # a socket, a FIFO: nothing to upload
                continue
            plan.files.append((local, str(inside.joinpath(*relative, name)), local.stat().st_size))


def _folder(to: str) -> PurePosixPath:
    if not to.startswith("/"):
        to = "/" + to
    folder = PurePosixPath(to)
    if ".." in folder.parts or HIDDEN_FOLDER in folder.parts:
        raise Invalid(None, f"--to {to!r}: a dataset folder cannot hold '..' or {HIDDEN_FOLDER}")
    return folder


# -- small helpers -------------------------------------------------------------------------


def _segment(value: str) -> str:
    """A name as one URL path segment. A name of dots is escaped: httpx (as RFC 3986
    says) resolves ``.`` and ``..`` segments before sending, which would change the route."""
    quoted = urllib.parse.quote(str(value), safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _file_route(path: str) -> str:
    """An item path (``/a/b c.jpg``) as the tail of ``/files/{path}``, each segment quoted.

    A ``.`` or ``..`` segment is refused here: httpx would resolve it before sending, and
    ``a/../../other/files/x`` would reach another dataset's route instead of the server's
    own refusal."""
    segments = path.lstrip("/").split("/")
    if any(segment in (".", "..") for segment in segments):
        raise Invalid(None, f"upload path {path!r}: '.' and '..' are not allowed in a path")
    return "/".join(urllib.parse.quote(segment, safe="") for segment in segments)


def _without_none(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


def _version(file: IO[bytes]) -> tuple[int, int, int]:
    """What changes when a file is written: its inode, size and modification time (ns)."""
    stat = os.fstat(file.fileno())
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _size_and_sha256(local: Path) -> tuple[int, str, tuple[int, int, int]]:
    """The file's size, SHA-256 and version, in one streamed read; ``FileChanged`` if it
    was written meanwhile."""
    digest = hashlib.sha256()
    size = 0
    with local.open("rb") as file:
        version = _version(file)
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if _version(file) != version or size != version[1]:
            raise FileChanged(None, f"{local} changed while it was read: send it again")
    return size, digest.hexdigest(), version


def _read_chunks(local: Path) -> Iterator[bytes]:
    with local.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def _unchanged_chunks(
    local: Path, size: int, version: tuple[int, int, int], on_bytes: Callable[[int], None] | None
) -> Iterator[bytes]:
    """The file's bytes, as long as it is the version whose hash was sent.

    The last chunk is held back until the whole file has been read: a file written since
    its hash was taken (another inode, size or modification time) raises ``FileChanged``
    before the body is complete, so the server sees a cut-short request and keeps
    nothing. (The server also checks the bytes against the hash; the client reads each
    file twice but hashes it once.)
    """
    read = 0
    held = b""
    with local.open("rb") as file:
        while read < size:
            chunk = file.read(min(CHUNK, size - read))
            if not chunk:
                break  # shorter than it was
            read += len(chunk)
            if held:
                yield held
                if on_bytes:
                    on_bytes(len(held))
            held = chunk
        if read != size or file.read(1) or _version(file) != version:
            raise FileChanged(
                None, f"{local} changed while it was uploaded: not uploaded, send it again"
            )
    if held:
        yield held
        if on_bytes:
            on_bytes(len(held))


def _file_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return _one_line(str(exc))


@contextlib.contextmanager
def _writable(destination: str | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    if hasattr(destination, "write"):
        yield destination  # type: ignore[misc]
        return
    with open(destination, "wb") as out:
        yield out

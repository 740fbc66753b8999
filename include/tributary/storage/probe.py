"""The permission probe: list, put, get and delete a probe file under the hidden folder."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field

from tributary.storage.base import (
    BadCredentials,
    BucketNotFound,
    ObjectStore,
    PartialListing,
    StorageError,
    Unreachable,
)

PERMISSIONS = ("list", "get", "put", "delete")
# Failures after which no other operation can say anything useful.
_FATAL = (BucketNotFound, BadCredentials, Unreachable)


@dataclass
class PermissionResult:
    """The outcome of testing one permission."""

    ok: bool
    required: bool
    message: str


@dataclass
class ProbeReport:
    """Per-permission results of one probe; ``ok`` when every required one holds."""

    location: str
    results: dict[str, PermissionResult] = field(default_factory=dict)
    checked_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    # The failure that stopped the probe before any permission could be tested (a missing
    # bucket or folder, rejected credentials, a dead endpoint): the real cause, which a
    # verdict of "permission missing" would hide.
    fatal: StorageError | None = field(default=None, repr=False, compare=False)

    @property
    def cause(self) -> str | None:
        """Why nothing could be tested (one line), or None when the probe ran through."""
        return str(self.fatal) if self.fatal is not None else None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values() if r.required)

    @property
    def problems(self) -> list[str]:
        """One line per required permission that does not hold."""
        return [
            f"{name}: {r.message}" for name, r in self.results.items() if r.required and not r.ok
        ]

    def as_dict(self) -> dict:
        """JSON-ready form, as stored on the driver and printed with ``--json``."""
        return {
            "location": self.location,
            "ok": self.ok,
            "checked_at": self.checked_at,
            "cause": self.cause,
            "permissions": {name: asdict(r) for name, r in self.results.items()},
        }


def probe(store: ObjectStore, *, allow_delete: bool) -> ProbeReport:
    """Test List, Get, Put (mandatory) and Delete (mandatory only with ``allow_delete``).

    Writes ``<prefix>/.tributary/probe/<uuid>.txt``, reads it back, finds it in a listing
    and deletes it. Without Delete permission the probe file stays behind, and the report
    says so.
    """
    run = _ProbeRun(store, allow_delete)
    try:
        sample_key = run.list_objects()
        run.put_probe()
        run.get(sample_key)
        run.find_probe_in_listing()
        run.delete_probe()
    except _FATAL as exc:  # nothing else can say anything useful
        run.report.fatal = exc
        for name in PERMISSIONS:
            run.record(name, False, str(exc))
    return run.report


class _ProbeRun:
    """The steps of one probe, each recording its own permission's result."""

    def __init__(self, store: ObjectStore, allow_delete: bool) -> None:
        self.store = store
        self.allow_delete = allow_delete
        self.report = ProbeReport(location=store.location)
        self.required = {"list": True, "get": True, "put": True, "delete": allow_delete}
        self.probe_key = f"{store.hidden_prefix}probe/{uuid.uuid4().hex}.txt"
        self.payload = f"tributary permission probe {self.report.checked_at}\n".encode()

    def record(self, name: str, ok: bool, message: str) -> None:
        self.report.results[name] = PermissionResult(ok, self.required[name], message)

    def ok(self, name: str) -> bool:
        return self.report.results[name].ok

    def list_objects(self) -> str | None:
        """List the prefix; returns one existing key to read if Put turns out denied."""
        try:
            for page in self.store.list_raw(self.store.prefix, recursive=True):
                self.record("list", True, "listed objects")
                return next((o.key for o in page if not o.key.endswith("/")), None)
            self.record("list", True, "listed objects (none yet)")
        except PartialListing as exc:  # listing works; a sub-folder is the folder's business
            self.record("list", True, f"listed objects, but {exc}")
        except _FATAL:
            raise
        except StorageError as exc:
            self.record("list", False, str(exc))
        return None

    def put_probe(self) -> None:
        try:
            self.store.write(self.probe_key, self.payload, content_type="text/plain")
            self.record("put", True, f"wrote {self.probe_key}")
        except _FATAL:
            raise
        except StorageError as exc:
            self.record("put", False, str(exc))

    def get(self, sample_key: str | None) -> None:
        """Read the probe back, or one byte of an existing object when Put was denied."""
        key = self.probe_key if self.ok("put") else sample_key
        if key is None:
            self.record("get", False, "could not be tested: the bucket is empty and put failed")
            return
        try:
            data = self.store.read(key, 0, None if key == self.probe_key else 1)
        except StorageError as exc:
            self.record("get", False, str(exc))
            return
        if key == self.probe_key and data != self.payload:
            self.record("get", False, f"read back {key} but its content differs")
        else:
            self.record("get", True, f"read {key}")

    def find_probe_in_listing(self) -> None:
        if not (self.ok("put") and self.ok("list")):
            return
        try:
            folder = f"{self.store.hidden_prefix}probe/"
            listed = {o.key for page in self.store.list_raw(folder) for o in page}
        except StorageError as exc:
            self.record("list", False, str(exc))
            return
        if self.probe_key not in listed:
            self.record("list", False, f"wrote {self.probe_key} but a listing did not return it")

    def delete_probe(self) -> None:
        if not self.ok("put"):
            self.record("delete", False, "could not be tested without put permission")
            return
        try:
            self.store.delete(self.probe_key)
            self.record("delete", True, f"deleted {self.probe_key}")
        except StorageError as exc:
            note = "" if self.allow_delete else " (optional: allow_delete is off)"
            self.record(
                "delete", False, f"{exc}; the probe file {self.probe_key} was left behind{note}"
            )

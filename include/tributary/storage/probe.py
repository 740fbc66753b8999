"""The permission probe: list, put, get and delete a probe file under the hidden folder."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field

from tributary.storage.base import (
    BadCredentials,
    BucketNotFound,
    ObjectStore,
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
            "permissions": {name: asdict(r) for name, r in self.results.items()},
        }


def probe(store: ObjectStore, *, allow_delete: bool) -> ProbeReport:
    """Test List, Get, Put (mandatory) and Delete (mandatory only with ``allow_delete``).

    The probe file is ``<prefix>/.tributary/probe/<uuid>.txt``; it is removed again when
    Delete is allowed by the storage, and its absence is never an error.
    """
    report = ProbeReport(location=store.location)
    required = {"list": True, "get": True, "put": True, "delete": allow_delete}

    def record(name: str, ok: bool, message: str) -> None:
        report.results[name] = PermissionResult(ok=ok, required=required[name], message=message)

    def fail_all(message: str) -> ProbeReport:
        for name in PERMISSIONS:
            record(name, False, message)
        return report

    # List first: a missing bucket or bad credentials make every other test meaningless.
    sample_key = None
    try:
        for page in store.list_raw(store.prefix, recursive=True):
            sample_key = next((o.key for o in page if not o.key.endswith("/")), None)
            break
        record("list", True, "listed objects")
    except _FATAL as exc:
        return fail_all(str(exc))
    except StorageError as exc:
        record("list", False, str(exc))

    probe_key = f"{store.hidden_prefix}probe/{uuid.uuid4().hex}.txt"
    payload = f"tributary permission probe {report.checked_at}\n".encode()
    try:
        store.write(probe_key, payload, content_type="text/plain")
        record("put", True, f"wrote {probe_key}")
    except _FATAL as exc:
        return fail_all(str(exc))
    except StorageError as exc:
        record("put", False, str(exc))

    read_key = probe_key if report.results["put"].ok else sample_key
    if read_key is None:
        record(
            "get",
            False,
            "could not be tested: nothing to read (the bucket is empty and put failed)",
        )
    else:
        try:
            data = store.read(read_key, 0, None if read_key == probe_key else 1)
            if read_key == probe_key and data != payload:
                record("get", False, f"read back {probe_key} but its content differs")
            else:
                record("get", True, f"read {read_key}")
        except StorageError as exc:
            record("get", False, str(exc))

    if report.results["put"].ok and report.results["list"].ok:
        # The probe file must show up in a listing of the hidden folder.
        try:
            listed = {
                o.key for page in store.list_raw(f"{store.hidden_prefix}probe/") for o in page
            }
            if probe_key not in listed:
                record("list", False, f"wrote {probe_key} but a listing did not return it")
        except StorageError as exc:
            record("list", False, str(exc))

    if report.results["put"].ok:
        try:
            store.delete(probe_key)
            record("delete", True, f"deleted {probe_key}")
        except StorageError as exc:
            note = "" if allow_delete else " (optional: allow_delete is off)"
            record("delete", False, f"{exc}; the probe file {probe_key} was left behind{note}")
    else:
        record("delete", False, "could not be tested without put permission")
    return report

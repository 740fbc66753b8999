"""Settings read from the environment; every value has a sane embedded default."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

HIDDEN_FOLDER = ".tributary"
CATALOG_CONN_ID = "tributary_catalog"


def airflow_home() -> Path:
    """Airflow's home folder, where the embedded catalog and internal storage live."""
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))


def catalog_url_from_env() -> str | None:
    """An explicit catalog URL (``TRIBUTARY_CATALOG_URL``), if one is set."""
    return os.environ.get("TRIBUTARY_CATALOG_URL") or None


def default_catalog_url() -> str:
    """The embedded default: SQLite at ``$AIRFLOW_HOME/tributary.db``."""
    return f"sqlite:///{airflow_home() / 'tributary.db'}"


def internal_storage_root() -> Path:
    """Where datasets without a driver keep their files (the internal storage)."""
    return Path(os.environ.get("TRIBUTARY_STORAGE_ROOT", airflow_home() / "tributary-storage"))


# The checkout this package runs from (include/tributary/config.py → the repository): where
# scripts/demo.sh keeps its sample bucket unless TRIBUTARY_DEMO_DIR moves it.
_CHECKOUT = Path(__file__).resolve().parents[2]


def demo_bucket() -> Path:
    """The sample bucket ``scripts/demo.sh`` creates: ``$TRIBUTARY_DEMO_DIR/bucket``, else
    ``.demo/bucket`` in the checkout."""
    return Path(os.environ.get("TRIBUTARY_DEMO_DIR") or _CHECKOUT / ".demo") / "bucket"


def local_roots() -> list[Path]:
    """The folders local drivers may use (``TRIBUTARY_LOCAL_ROOTS``), resolved.

    Folders separated by ``os.pathsep`` or commas; set but empty, no local driver is
    allowed. Unset: the demo's sample bucket and the internal storage root — a driver
    created through the REST API must not reach ``/etc`` or Airflow's own home.
    """
    raw = os.environ.get("TRIBUTARY_LOCAL_ROOTS")
    if raw is None:
        folders = [demo_bucket(), internal_storage_root()]
    else:
        folders = [Path(part.strip()) for part in re.split(rf"[,{re.escape(os.pathsep)}]", raw)]
        folders = [folder for folder in folders if str(folder) not in ("", ".")]
    return [folder.expanduser().resolve() for folder in folders]


def outside_local_roots(folder: str) -> str | None:
    """Why no local driver may use ``folder`` (one line), or None when one may.

    The folder is resolved first (``realpath``), so neither a link nor a ``..`` can lead a
    driver out of the allowed folders.
    """
    resolved = Path(folder).expanduser().resolve()
    roots = local_roots()
    if any(resolved.is_relative_to(root) for root in roots):
        return None
    allowed = ", ".join(str(root) for root in roots) or "none"
    return (
        f"local folder {resolved} is outside TRIBUTARY_LOCAL_ROOTS, the folders local drivers "
        f"may use ({allowed})"
    )


def listing_page_size() -> int:
    """Objects per listing page: one bulk insert and one progress update each."""
    return int(os.environ.get("TRIBUTARY_LISTING_PAGE_SIZE", "1000"))


def max_partitions() -> int:
    """Upper bound on mapped listing tasks per sync (Airflow caps a map at 1024)."""
    return int(os.environ.get("TRIBUTARY_MAX_PARTITIONS", "64"))


def lock_wait() -> dt.timedelta:
    """How long a sync waits for another sync of the same dataset before failing."""
    return dt.timedelta(seconds=float(os.environ.get("TRIBUTARY_LOCK_WAIT_SECONDS", "300")))


def lock_stale_after() -> dt.timedelta:
    """A sync silent (no heartbeat) for this long is taken for dead and its lock taken over."""
    return dt.timedelta(seconds=float(os.environ.get("TRIBUTARY_LOCK_STALE_SECONDS", "3600")))


def upstream_schedule() -> str:
    """Cron of the nightly upstream sync (default 02:00 UTC)."""
    return os.environ.get("TRIBUTARY_UPSTREAM_SCHEDULE", "0 2 * * *")


def permission_check_schedule() -> str:
    """Cron of the daily permission check of every driver (default 03:00 UTC)."""
    return os.environ.get("TRIBUTARY_PERMISSION_CHECK_SCHEDULE", "0 3 * * *")


def event_sources() -> list[dict]:
    """Bucket event queues the event sync watches (``TRIBUTARY_EVENT_SOURCES``, JSON list)."""
    raw = os.environ.get("TRIBUTARY_EVENT_SOURCES", "").strip()
    return json.loads(raw) if raw else []


def preprocess_schedule() -> str:
    """Cron of the preprocessing safety-net runs, whose daily intervals backfill covers."""
    return os.environ.get("TRIBUTARY_PREPROCESS_SCHEDULE", "0 0 * * *")


def thumbnail_size() -> int:
    """Longest side of a thumbnail in pixels (``TRIBUTARY_THUMBNAIL_SIZE``, 256)."""
    return int(os.environ.get("TRIBUTARY_THUMBNAIL_SIZE", "256"))


def thumbnail_format() -> str:
    """``jpeg`` or ``webp`` (``TRIBUTARY_THUMBNAIL_FORMAT``); ``none`` makes no thumbnails."""
    return os.environ.get("TRIBUTARY_THUMBNAIL_FORMAT", "jpeg").lower()


def max_pixels() -> int:
    """Images above this many pixels are refused as decompression bombs (Pillow's own
    ``MAX_IMAGE_PIXELS`` is set from it, so this is the one limit)."""
    return int(os.environ.get("TRIBUTARY_MAX_PIXELS", str(200_000_000)))


def preprocess_max_bytes() -> int:
    """Bytes preprocessing may read from storage for one item
    (``TRIBUTARY_PREPROCESS_MAX_BYTES``, 256 MiB); an item that needs more fails."""
    return int(os.environ.get("TRIBUTARY_PREPROCESS_MAX_BYTES", str(256 * 1024 * 1024)))


def preprocess_max_decode_bytes() -> int:
    """Memory one decoded image may take (``TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES``,
    256 MiB): above it no thumbnail is made for formats that decode only at full size."""
    return int(os.environ.get("TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES", str(256 * 1024 * 1024)))


def preprocess_item_seconds() -> float:
    """Time limit of one item (``TRIBUTARY_PREPROCESS_ITEM_SECONDS``, 60)."""
    return float(os.environ.get("TRIBUTARY_PREPROCESS_ITEM_SECONDS", "60"))


def preprocess_batches() -> int:
    """Upper bound on mapped preprocessing tasks per run (Airflow caps a map at 1024)."""
    return int(os.environ.get("TRIBUTARY_PREPROCESS_MAX_BATCHES", "512"))


def preprocess_min_batch() -> int:
    """Fewest items a preprocessing task takes when there are enough (real work per task)."""
    return int(os.environ.get("TRIBUTARY_PREPROCESS_MIN_BATCH", "500"))


def preprocess_threads() -> int:
    """Items one preprocessing task works on at once (I/O overlaps decoding)."""
    return int(os.environ.get("TRIBUTARY_PREPROCESS_THREADS", "4"))


def lanes() -> dict[str, dict]:
    """Private preprocessing lanes (``TRIBUTARY_LANES``, JSON): name → pool and queue.

    ``{"acme": {"pool": "tributary_acme", "queue": "acme"}}``. The ``shared`` lane always
    exists and uses Airflow's default pool and queue.
    """
    raw = os.environ.get("TRIBUTARY_LANES", "").strip()
    configured = json.loads(raw) if raw else {}
    lanes = {"shared": {}}
    for name, lane in configured.items():
        if not name.isidentifier():
            raise ValueError(f"lane name {name!r} must be letters, digits and '_'")
        lanes[name] = {key: lane[key] for key in ("pool", "queue") if lane.get(key)}
    return lanes


def internal_storage_driver() -> str | None:
    """The driver that holds the internal storage in production
    (``TRIBUTARY_STORAGE_DRIVER``, a driver name): datasets without a driver then keep
    their files under ``<driver folder>/<dataset name>/`` there. Unset: the local folder
    ``TRIBUTARY_STORAGE_ROOT``."""
    return os.environ.get("TRIBUTARY_STORAGE_DRIVER", "").strip() or None


def downstream_schedule() -> str:
    """Cron of the downstream sync that drains the outbox (default every 5 minutes)."""
    return os.environ.get("TRIBUTARY_DOWNSTREAM_SCHEDULE", "*/5 * * * *")


def downstream_max_attempts() -> int:
    """Attempts at one outbox operation before it is given up as failed
    (``TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS``, 8)."""
    return max(1, int(os.environ.get("TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS", "8")))


def downstream_retry_delay() -> dt.timedelta:
    """The first retry delay of a failed outbox operation, doubled at each further attempt
    up to an hour (``TRIBUTARY_DOWNSTREAM_RETRY_SECONDS``, 30)."""
    return dt.timedelta(seconds=float(os.environ.get("TRIBUTARY_DOWNSTREAM_RETRY_SECONDS", "30")))


def upload_part_size() -> int:
    """Bytes per part of a multipart (S3), block (Azure) or resumable-chunk (GCS) upload
    (``TRIBUTARY_UPLOAD_PART_SIZE``, 8 MiB). S3 takes parts of 5 MiB at least; GCS rounds
    up to a multiple of 256 KiB."""
    return int(os.environ.get("TRIBUTARY_UPLOAD_PART_SIZE", str(8 * 1024 * 1024)))


def upload_multipart_threshold() -> int:
    """Uploads above this many bytes go in parts (``TRIBUTARY_UPLOAD_MULTIPART_THRESHOLD``,
    8 MiB); smaller ones in one request."""
    return int(os.environ.get("TRIBUTARY_UPLOAD_MULTIPART_THRESHOLD", str(8 * 1024 * 1024)))


def copy_multipart_threshold() -> int:
    """Server-side copies above this many bytes go in parts (S3's multipart copy;
    ``TRIBUTARY_COPY_MULTIPART_THRESHOLD``, 1 GiB). Below it one request copies the
    object inside the storage (S3's CopyObject takes up to 5 GB)."""
    return int(os.environ.get("TRIBUTARY_COPY_MULTIPART_THRESHOLD", str(1024 * 1024 * 1024)))


def upload_concurrency() -> int:
    """Parts of one upload in flight at once (``TRIBUTARY_UPLOAD_CONCURRENCY``, 4): with the
    part size, what bounds an upload's memory."""
    return max(1, int(os.environ.get("TRIBUTARY_UPLOAD_CONCURRENCY", "4")))


def upload_max_bytes() -> int | None:
    """The largest file an upload may write (``TRIBUTARY_UPLOAD_MAX_BYTES``); unset or 0:
    no limit but the provider's own."""
    value = int(os.environ.get("TRIBUTARY_UPLOAD_MAX_BYTES", "0") or 0)
    return value or None


def upload_lease() -> dt.timedelta:
    """How long an upload may go without progress before the downstream sync takes it for
    abandoned and removes its reservation (``TRIBUTARY_UPLOAD_LEASE_SECONDS``, 900)."""
    return dt.timedelta(seconds=float(os.environ.get("TRIBUTARY_UPLOAD_LEASE_SECONDS", "900")))


# Airflow's own metadata database on SQLite (the demo): wait up to 60 s for another
# process's write instead of failing with "database is locked" after 5 s. Airflow imports
# it through AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS.
AIRFLOW_SQLITE_CONNECT_ARGS = {"timeout": 60}

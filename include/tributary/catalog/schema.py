"""Table definitions. Alembic migrations under ``migrations/`` create exactly these."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# JSON everywhere, JSONB on PostgreSQL so user metadata can be indexed later.
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

drivers = sa.Table(
    "drivers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("conn_id", sa.String(250)),
    sa.Column("bucket", sa.String(1024), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False, server_default=""),
    sa.Column("storage_class", sa.String(64), nullable=False, server_default="standard"),
    sa.Column("region", sa.String(64)),
    sa.Column("allow_delete", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_check", Json),
    sa.Column("last_check_at", Timestamp),
    # When the checks started failing (a required permission missing); None while they
    # pass. Kept across failing checks, so `driver list` says since when.
    sa.Column("failing_since", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("driver_id", sa.Integer, sa.ForeignKey("drivers.id")),
    sa.Column("sync_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # A folder under the driver's path, may hold Airflow date templates ("cam/{{ ds }}/"):
    # each scheduled or backfill run then reconciles only its interval's folder.
    sa.Column("folder", sa.String(1024), nullable=False, server_default=""),
    # Tombstones older than this are purged by the next upstream sync.
    sa.Column("ghost_grace_days", sa.Integer, nullable=False, server_default="7"),
    # A sync that would tombstone more than this share of the items stops and asks.
    sa.Column("mass_delete_threshold", sa.Float, nullable=False, server_default="0.1"),
    # The preprocessing lane (an Airflow pool + Celery queue, TRIBUTARY_LANES); None: shared.
    sa.Column("lane", sa.String(64)),
    # How the dataset was made when not by a driver's sync: "clone" or "merge". Such a
    # dataset is a platform copy of items and is never synced (the sync says why).
    sa.Column("origin", sa.String(16)),
    # For people: which dataset(s) it was made from.
    sa.Column("origin_detail", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(200)),
    sa.Column("mtime", Timestamp),
    sa.Column("mimetype", sa.String(200)),
    # active | ghost (its file vanished from the bucket: a tombstone, see DESIGN.md) |
    # deleted (removed on the platform: the key is remembered so that an upstream sync does
    # not bring the file back unless its content changes).
    sa.Column("state", sa.String(16), nullable=False, server_default="active"),
    # file | link (a link JSON file whose binary stays at a URL).
    sa.Column("kind", sa.String(8), nullable=False, server_default="file"),
    # A platform operation waiting in the outbox to reach the bucket: "put" (the file is
    # not written yet) or "delete"; None once the bucket agrees with the catalog.
    sa.Column("downstream", sa.String(16)),
    sa.Column("deleted_at", Timestamp),
    # SHA-256 of the content when Tributary wrote it (uploads): identical re-uploads skip.
    sa.Column("sha256", sa.String(64)),
    # Where the content lives or came from: a linked item's URL (its link file holds it
    # too), or the URL a CSV import fetched a file from. May be pre-signed: never shown
    # as it is (``tributary.ingest.redact.redact_url``).
    sa.Column("source_url", sa.Text),
    # Preprocessing: pending | done | failed.
    sa.Column("preprocess_state", sa.String(16), nullable=False, server_default="pending"),
    # Why preprocessing failed (truncated file, decompression bomb, …) when it did.
    sa.Column("preprocess_error", sa.Text),
    sa.Column("preprocessed_at", Timestamp),
    # Where the thumbnail lies in the dataset's storage (in the hidden folder).
    sa.Column("thumbnail_key", sa.Text),
    sa.Column("system_metadata", Json),
    sa.Column("user_metadata", Json),
    sa.Column("description", sa.Text),
    sa.Column("created_sync_id", sa.Integer),
    # For a tombstone: the newest complete sync that still saw its file. (Not rewritten for
    # every unchanged item on every sync: that would cost a write per item per sync.)
    sa.Column("last_seen_sync_id", sa.Integer),
    sa.Column("vanished_at", Timestamp),
    # The order key of the last bucket event applied to this item: an older event that
    # arrives late is ignored.
    sa.Column("event_order", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("dataset_id", "storage_key", name="uq_items_dataset_key"),
    sa.Index("ix_items_dataset_state", "dataset_id", "state"),
    sa.Index("ix_items_created_sync", "created_sync_id"),
    # Preprocessing picks a dataset's pending items in id order.
    sa.Index("ix_items_preprocess", "dataset_id", "preprocess_state", "id"),
    # Keyset pages of a dataset's items in path order (the API and the browser).
    sa.Index("ix_items_dataset_path", "dataset_id", "path", "id"),
)

# User-metadata filters (key=value) on PostgreSQL: a GIN index over the JSONB containment
# operator. SQLite filters with json_extract over the dataset's rows instead.
sa.Index(
    "ix_items_user_metadata",
    items.c.user_metadata,
    postgresql_using="gin",
    postgresql_ops={"user_metadata": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # initial | upstream | event
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("partitions_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("partitions_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("objects_listed", sa.BigInteger, nullable=False, server_default="0"),
    # Objects under the folder that hold data but cannot be items (a key ending in "/").
    sa.Column("objects_skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_new", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_changed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_renamed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_ghosted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_revived", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("items_purged", sa.BigInteger, nullable=False, server_default="0"),
    # The key prefix this run reconciled (a dataset folder rendered for the run's interval).
    sa.Column("scope", sa.Text),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    # The reconcile plan: counts per kind, sample paths, ambiguous renames.
    sa.Column("report", Json),
    sa.Column("error", sa.Text),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("heartbeat_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.UniqueConstraint("dag_id", "run_id", "dataset_id", name="uq_sync_runs_airflow_run"),
    sa.Index("ix_sync_runs_dataset", "dataset_id", "id"),
)

# One row per listing partition of a sync: progress that survives retries.
sync_partitions = sa.Table(
    "sync_partitions",
    metadata,
    sa.Column("sync_id", sa.Integer, sa.ForeignKey("sync_runs.id"), primary_key=True),
    sa.Column("partition_index", sa.Integer, primary_key=True),
    sa.Column("descriptor", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="planned"),
    sa.Column("objects_listed", sa.BigInteger, nullable=False, server_default="0"),
    # Objects under the folder that hold data but cannot be items (a key ending in "/").
    sa.Column("objects_skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("finished_at", Timestamp),
)

# The listing of one sync, streamed in page by page; reconcile is SQL over it.
staging_listing = sa.Table(
    "staging_listing",
    metadata,
    sa.Column("sync_id", sa.Integer, primary_key=True),
    sa.Column("storage_key", sa.Text, primary_key=True),
    sa.Column("partition_index", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(200)),
    sa.Column("mtime", Timestamp),
    sa.Column("mimetype", sa.String(200)),
    # No index on partition_index: it would be maintained for every listed object but
    # read only when a partition is retried (that delete scans the sync's rows instead).
)

# The reconcile plan of one sync: one row per key that changes (unchanged keys have none).
# kind: new | changed | revived | renamed (storage_key is the new key, old_key the old) |
# vanished (the item becomes a tombstone).
sync_changes = sa.Table(
    "sync_changes",
    metadata,
    sa.Column("sync_id", sa.Integer, primary_key=True),
    sa.Column("storage_key", sa.Text, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer, "sqlite")),
    sa.Column("old_key", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("etag", sa.String(200)),
    sa.Index("ix_sync_changes_kind", "sync_id", "kind"),
    # Rename pairing looks rows up by content.
    sa.Index("ix_sync_changes_content", "sync_id", "size", "etag"),
)

# Every tombstone purged after its grace period, kept as the record of the purge.
item_purges = sa.Table(
    "item_purges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sync_id", sa.Integer, nullable=False),
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("item_id", sa.BigInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("vanished_at", Timestamp),
    sa.Column("purged_at", Timestamp, nullable=False),
    # Deleted from the hidden folder by the sync, after the purge is committed.
    sa.Column("thumbnail_key", sa.Text),
    sa.Index("ix_item_purges_dataset", "dataset_id", "id"),
)

# Data-point quotas: scope "catalog" for the whole catalog, "dataset:<id>" for one dataset.
quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("max_data_points", sa.BigInteger, nullable=False),
)

# At most one sync per dataset at a time (initial, upstream or event).
dataset_locks = sa.Table(
    "dataset_locks",
    metadata,
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), primary_key=True),
    sa.Column("sync_id", sa.Integer, nullable=False),
    sa.Column("acquired_at", Timestamp, nullable=False),
)

# Platform operations waiting to reach the bucket (DESIGN.md, "outbox"): written in the same
# transaction as the item they concern, drained by tributary_downstream_sync, each applied
# exactly once (an operation is idempotent on its target and marked done after it).
# op: put (copy the spooled upload at spool_key to storage_key, then drop the spool) |
#     delete (delete storage_key; only when the driver has allow_delete) |
#     delete_thumbnail (drop a deleted item's thumbnail from the hidden folder).
# status: pending | done | failed (gave up after the retries; the error says why).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer, "sqlite")),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("spool_key", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),
    sa.Column("error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("applied_at", Timestamp),
    sa.Index("ix_outbox_pending", "status", "next_attempt_at", "id"),
    sa.Index("ix_outbox_dataset", "dataset_id", "status"),
)

# CSV imports (tributary_csv_ingest): the CSV waits in the hidden folder
# (.tributary/imports/<id>/source.csv, errors.csv beside it); rows land in ``folder``
# (named after the CSV file). status: pending | running | succeeded | failed.
imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("valid", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
    # One line per warning (ignored columns, …).
    sa.Column("warnings", sa.Text),
    # Why the whole import failed (a refused file, the quota), one line.
    sa.Column("error", sa.Text),
    sa.Column("dag_run_id", sa.String(250)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Index("ix_imports_dataset", "dataset_id", "id"),
)

"""upstream sync

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sync_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("vanished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_purges", schema=None) as batch_op:
        batch_op.create_index("ix_item_purges_dataset", ["dataset_id", "id"], unique=False)

    op.create_table(
        "sync_changes",
        sa.Column("sync_id", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("old_key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("sync_id", "storage_key"),
    )
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.create_index("ix_sync_changes_kind", ["sync_id", "kind"], unique=False)
        batch_op.create_index("ix_sync_changes_content", ["sync_id", "size", "etag"], unique=False)

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("folder", sa.String(length=1024), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ghost_grace_days", sa.Integer(), server_default="7", nullable=False)
        )
        batch_op.add_column(
            sa.Column("mass_delete_threshold", sa.Float(), server_default="0.1", nullable=False)
        )

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vanished_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("event_order", sa.String(length=64), nullable=True))

    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("items_changed", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("items_renamed", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("items_ghosted", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("items_revived", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("items_purged", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("scope", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "report",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("report")
        batch_op.drop_column("dry_run")
        batch_op.drop_column("scope")
        batch_op.drop_column("items_purged")
        batch_op.drop_column("items_revived")
        batch_op.drop_column("items_ghosted")
        batch_op.drop_column("items_renamed")
        batch_op.drop_column("items_changed")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("event_order")
        batch_op.drop_column("vanished_at")

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("mass_delete_threshold")
        batch_op.drop_column("ghost_grace_days")
        batch_op.drop_column("folder")

    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_changes_content")
        batch_op.drop_index("ix_sync_changes_kind")

    op.drop_table("sync_changes")
    with op.batch_alter_table("item_purges", schema=None) as batch_op:
        batch_op.drop_index("ix_item_purges_dataset")

    op.drop_table("item_purges")

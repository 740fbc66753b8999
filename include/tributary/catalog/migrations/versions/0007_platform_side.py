"""the platform side: deleted items, links, the outbox, clones, metadata filters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("origin_detail", sa.Text(), nullable=True))

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), server_default="file", nullable=False)
        )
        batch_op.add_column(sa.Column("downstream", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_items_dataset_path", ["dataset_id", "path", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_items_user_metadata",
            "items",
            ["user_metadata"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"user_metadata": "jsonb_path_ops"},
        )

    op.create_table(
        "outbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_id", _ID, nullable=True),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("spool_key", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending", ["status", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index("ix_outbox_dataset", ["dataset_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_table("outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_items_user_metadata", table_name="items")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_dataset_path")
        for column in ("sha256", "deleted_at", "downstream", "kind"):
            batch_op.drop_column(column)
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("origin_detail")
        batch_op.drop_column("origin")

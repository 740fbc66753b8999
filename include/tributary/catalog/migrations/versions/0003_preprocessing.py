"""preprocessing: lanes, thumbnails, failure reasons

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=64), nullable=True))

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preprocess_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("preprocessed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("thumbnail_key", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_items_preprocess", ["dataset_id", "preprocess_state", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_preprocess")
        batch_op.drop_column("thumbnail_key")
        batch_op.drop_column("preprocessed_at")
        batch_op.drop_column("preprocess_error")

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("lane")

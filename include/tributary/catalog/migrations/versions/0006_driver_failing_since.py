"""drivers remember since when their permission checks fail

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    # A driver whose stored check already fails is failing since that check: a NULL here
    # would read as "never failed" until the next check.
    op.execute(
        "UPDATE drivers SET failing_since = last_check_at "
        "WHERE last_check_at IS NOT NULL AND last_check IS NOT NULL AND " + _check_failed_sql()
    )


def downgrade() -> None:
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.drop_column("failing_since")


def _check_failed_sql() -> str:
    """``last_check.ok`` is false, in this database's JSON dialect."""
    if op.get_bind().dialect.name == "postgresql":
        return "(last_check ->> 'ok') = 'false'"
    return "json_extract(last_check, '$.ok') = 0"

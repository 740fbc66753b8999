"""Alembic environment: runs migrations on the engine handed over in the config."""

from alembic import context

from tributary.catalog.migrations import VERSION_TABLE
from tributary.catalog.schema import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

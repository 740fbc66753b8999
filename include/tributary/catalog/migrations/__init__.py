"""Alembic migrations of the catalog, applied programmatically (no alembic.ini needed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

# Our own version table, so the catalog may share a database with Airflow's metadata.
VERSION_TABLE = "tributary_alembic_version"


def alembic_config(engine: Engine) -> Config:
    """An in-memory Alembic config pointing at this folder and the given engine."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    # Alembic announces its dialect at INFO on every check; only upgrades are news.
    alembic_log = logging.getLogger("alembic.runtime.migration")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        alembic_log.setLevel(level)


def head_revision(engine: Engine) -> str | None:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to the newest revision if it is behind."""
    from alembic import command

    if current_revision(engine) != head_revision(engine):
        command.upgrade(alembic_config(engine), "head")

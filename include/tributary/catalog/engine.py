"""Opening a catalog: engine set-up for SQLite and PostgreSQL, migrations on first use."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from tributary.catalog import migrations

SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalise_url(url: str) -> str:
    """Map the URL spellings users have (``postgres://``, Airflow URIs) to our drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and upgrades read locks to write
    # locks mid-transaction, which fails at once with "database is locked" instead of
    # waiting. Take the write lock up front (BEGIN IMMEDIATE) so busy_timeout applies.
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pool_options(url: str) -> dict:
    """Pooled connections: opening a SQLite connection (and its PRAGMAs) per transaction
    cost more than the transactions themselves.

    Not one connection per thread (SingletonThreadPool): past five threads that pool
    closes the connections of other threads, in use or not, and the API server (its
    worker threads, an SDK's upload threads renewing a lease) got "bad parameter or other
    API misuse" from a connection closed under it. A queue pool lends each transaction a
    connection of its own, whichever thread asks. An in-memory database lives in its one
    connection, so it keeps the per-thread pool.
    """
    if make_url(url).database in (None, "", ":memory:"):
        return {"poolclass": sa.pool.SingletonThreadPool}
    return {
        "poolclass": sa.pool.QueuePool,
        "pool_size": 4,
        "max_overflow": -1,  # as many as threads ask; SQLite itself serialises the writes
        "connect_args": {"check_same_thread": False},
    }


class Catalog:
    """A handle on one catalog database; cheap to create, safe to share in a process."""

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = self.url.startswith("postgresql")
        if self.is_sqlite:
            self._ensure_sqlite_folder()
            self.engine = sa.create_engine(self.url, **_sqlite_pool_options(self.url))
            _configure_sqlite(self.engine)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=2)
        if upgrade:
            self.upgrade()

    def __repr__(self) -> str:
        # Never show a password, whatever prints us.
        return f"Catalog({make_url(self.url).render_as_string(hide_password=True)})"

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on any error."""
        with self.engine.begin() as conn:
            yield conn

    def upgrade(self) -> None:
        """Apply pending migrations; concurrent callers wait for one another."""
        with self._migration_lock():
            migrations.upgrade_to_head(self.engine)

    def _ensure_sqlite_folder(self) -> None:
        database = make_url(self.url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_postgres:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_lock(7203119)")
                try:
                    yield
                finally:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7203119)")
                    conn.commit()
        else:
            database = make_url(self.url).database or ":memory:"
            if database == ":memory:":
                yield
                return
            with open(f"{database}.migrate-lock", "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

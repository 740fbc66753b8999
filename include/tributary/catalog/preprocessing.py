"""Items through preprocessing: which to take, in what batches, and recording outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import datasets, items

# pending: new or changed items (the default); all: every active item (the ``force``
# param); created: items created in a window (a backfill run's data interval).
MODES = ("pending", "all", "created")


@dataclass(frozen=True)
class Selection:
    """Which items of a dataset a preprocessing run takes."""

    mode: str = "pending"
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.mode == "created" and (self.created_from is None or self.created_to is None):
            raise ValueError("mode 'created' needs created_from and created_to")

    def condition(self, dataset_id: int) -> sa.ColumnElement[bool]:
        condition = (items.c.dataset_id == dataset_id) & (items.c.state == "active")
        if self.mode == "pending":
            condition &= items.c.preprocess_state == "pending"
        elif self.mode == "created":
            condition &= (items.c.created_at >= self.created_from) & (
                items.c.created_at < self.created_to
            )
        return condition

    def as_dict(self) -> dict:
        """For XCom: ISO timestamps."""
        stamp = lambda value: value.isoformat() if value else None  # noqa: E731
        return {
            "mode": self.mode,
            "created_from": stamp(self.created_from),
            "created_to": stamp(self.created_to),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Selection:
        parse = lambda value: dt.datetime.fromisoformat(value) if value else None  # noqa: E731
        return cls(raw["mode"], parse(raw.get("created_from")), parse(raw.get("created_to")))


def count_selected(conn: Connection, dataset_id: int, selection: Selection) -> int:
    query = sa.select(sa.func.count()).select_from(items).where(selection.condition(dataset_id))
    return conn.execute(query).scalar_one()


def id_ranges(
    conn: Connection, dataset_id: int, selection: Selection, batch_size: int
) -> list[dict]:
    """Cut the selected items into consecutive id ranges of ``batch_size`` items (the last
    may be short), in one pass over the index: ``[{min_id, max_id, count}, …]``."""
    numbered = (
        sa.select(
            items.c.id,
            ((sa.func.row_number().over(order_by=items.c.id) - 1) // batch_size).label("batch"),
        )
        .where(selection.condition(dataset_id))
        .subquery()
    )
    query = (
        sa.select(sa.func.min(numbered.c.id), sa.func.max(numbered.c.id), sa.func.count())
        .group_by(numbered.c.batch)
        .order_by(numbered.c.batch)
    )
    return [{"min_id": lo, "max_id": hi, "count": n} for lo, hi, n in conn.execute(query)]


def batch_items(
    conn: Connection, dataset_id: int, selection: Selection, min_id: int, max_id: int
) -> list[dict]:
    """The selected items of one batch, with what reading and recording them needs."""
    query = (
        sa.select(
            items.c.id,
            items.c.path,
            items.c.storage_key,
            items.c.size,
            items.c.etag,
            items.c.mimetype,
            items.c.thumbnail_key,
        )
        .where(selection.condition(dataset_id) & items.c.id.between(min_id, max_id))
        .order_by(items.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def record(conn: Connection, outcomes: Sequence[dict]) -> int:
    """Store outcomes: ``{id, size, etag, state, error, metadata, mimetype, thumbnail_key}``.

    An item whose file changed since it was read (size or etag differ now) is left alone:
    the sync already set it back to pending, and the next run reads the new content.
    """
    if not outcomes:
        return 0
    now = dt.datetime.now(dt.UTC)
    statement = (
        items.update()
        .where(
            (items.c.id == sa.bindparam("b_id"))
            & (items.c.size == sa.bindparam("b_size"))
            & items.c.etag.is_not_distinct_from(sa.bindparam("b_etag"))
        )
        .values(
            preprocess_state=sa.bindparam("b_state"),
            preprocess_error=sa.bindparam("b_error"),
            system_metadata=sa.bindparam("b_metadata"),
            mimetype=sa.bindparam("b_mimetype"),
            thumbnail_key=sa.bindparam("b_thumbnail_key"),
            preprocessed_at=now,
            updated_at=now,
        )
    )
    rows = [{f"b_{key}": value for key, value in outcome.items()} for outcome in outcomes]
    return conn.execute(statement, rows).rowcount


def states(conn: Connection, dataset_id: int) -> dict[str, int]:
    """Active items per preprocessing state: ``{"pending": n, "done": n, "failed": n}``."""
    query = (
        sa.select(items.c.preprocess_state, sa.func.count())
        .where((items.c.dataset_id == dataset_id) & (items.c.state == "active"))
        .group_by(items.c.preprocess_state)
    )
    counts = {"pending": 0, "done": 0, "failed": 0}
    counts.update(dict(conn.execute(query).all()))
    return counts


def item_by_path(conn: Connection, dataset_name: str, path: str) -> dict | None:
    """One item of a dataset by its path (``/a/b.jpg`` or ``a/b.jpg``)."""
    wanted = {path, f"/{path.lstrip('/')}", path.lstrip("/")}
    query = (
        sa.select(items)
        .join(datasets, datasets.c.id == items.c.dataset_id)
        .where((datasets.c.name == dataset_name) & items.c.path.in_(wanted))
        .order_by(items.c.state)  # active before ghost
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None

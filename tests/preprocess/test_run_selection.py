"""How a preprocessing run's origin picks its items (the Airflow context → a Selection)."""

from __future__ import annotations

import datetime as dt
import types

from tributary.assets import ITEMS_CREATED
from tributary.tasks.run_context import event_datasets, preprocess_selection

DAY = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def context(run_type: str, **extra) -> dict:
    return {
        "dag_run": types.SimpleNamespace(run_type=run_type),
        "data_interval_start": DAY,
        "data_interval_end": DAY + dt.timedelta(days=1),
        **extra,
    }


def test_a_backfill_run_redoes_the_items_created_in_its_interval():
    selection = preprocess_selection(context("backfill"), force=False)
    assert (selection.mode, selection.created_from, selection.created_to) == (
        "created",
        DAY,
        DAY + dt.timedelta(days=1),
    )


def test_other_runs_take_pending_items_unless_forced():
    for run_type in ("scheduled", "manual", "asset_triggered"):
        assert preprocess_selection(context(run_type), force=False).mode == "pending"
    assert preprocess_selection(context("manual"), force=True).mode == "all"


def test_an_event_triggered_run_covers_the_events_datasets():
    events = {
        ITEMS_CREATED: [
            types.SimpleNamespace(extra={"dataset": "b", "count": 1}),
            types.SimpleNamespace(extra={"dataset": "a", "count": 3}),
            types.SimpleNamespace(extra={"dataset": "b", "count": 2}),
        ]
    }
    assert event_datasets({"triggering_asset_events": events}) == ["a", "b"]
    assert event_datasets({"triggering_asset_events": {}}) is None

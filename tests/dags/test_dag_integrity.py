"""Every DAG file parses, is tagged and documented, retries, and never touches a service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

EXPECTED_DAGS = {
    "tributary_initial_sync",
    "tributary_upstream_sync",
    "tributary_event_sync",
    "tributary_preprocess",
    "tributary_permission_check",
    "tributary_downstream_sync",
    "tributary_csv_ingest",
    "example_tributary_dominant_colour",
    "example_tributary_s3_to_dataset",
    "example_tributary_local_folder",
    "example_tributary_sync_dataset",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_the_interface_dag_ids_exist(dagbag):
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_tagged_documented_and_retrying(dagbag, dag_id):
    dag = dagbag.dags[dag_id]  # parsed object, no metadata database needed

    assert "tributary" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.params, "a trigger form needs typed params"
    assert dag.max_active_runs >= 1
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries}"
        assert task.retry_exponential_backoff


def form_marks_required(param) -> bool:
    """Airflow 3.3's trigger form rule (FlexibleForm ``isRequired``): a typed field is
    required, and Trigger disabled while it is empty, unless its type list holds "null"."""
    kind = param.schema.get("type")
    return bool(kind) and not (isinstance(kind, list) and "null" in kind)


@pytest.mark.parametrize("dag_id", ["tributary_upstream_sync", "tributary_preprocess"])
def test_an_empty_dataset_in_the_form_means_every_dataset(dagbag, dag_id):
    """Issue 14: the form said "empty: every dataset" but kept Trigger disabled."""
    dataset = dagbag.dags[dag_id].params.get_param("dataset")

    assert not form_marks_required(dataset)
    assert dataset.resolve(None) is None  # what the form sends for an emptied field
    assert dataset.resolve("demo") == "demo"


@pytest.mark.parametrize(
    "dag_id", ["tributary_initial_sync", "tributary_upstream_sync", "tributary_preprocess"]
)
def test_the_sync_forms_booleans_have_defaults_and_are_not_required(dagbag, dag_id):
    params = dagbag.dags[dag_id].params
    booleans = {
        name: params.get_param(name)
        for name in params
        if "boolean" in str(params.get_param(name).schema.get("type"))
    }

    assert booleans or dag_id == "tributary_initial_sync"
    for name, param in booleans.items():
        assert param.resolve() is False, name
        assert not form_marks_required(param), name


def test_the_initial_sync_still_requires_its_dataset(dagbag):
    assert form_marks_required(dagbag.dags["tributary_initial_sync"].params.get_param("dataset"))


PARTITION = {"sync_id": 7, "index": 2, "label": "partition 3/10: cam-east/"}
BATCH = {"dataset": "demo", "index": 1, "count": 500, "min_id": 501, "max_id": 1000}


@pytest.mark.parametrize(
    ("dag_id", "task_id", "op_kwargs", "shown"),
    [
        ("tributary_initial_sync", "list_partition", {"partition": PARTITION}, PARTITION["label"]),
        ("tributary_upstream_sync", "list_partition", {"partition": PARTITION}, PARTITION["label"]),
        (
            "tributary_preprocess",
            "preprocess_shared",
            {"batch": BATCH},
            "demo: batch 2, 500 items (ids 501-1000)",
        ),
    ],
)
def test_mapped_tasks_show_a_label_not_a_dict(dagbag, dag_id, task_id, op_kwargs, shown):
    """Issue 14: a mapped task showed ``{'sync_id': 7, 'index': 0}`` as its map index."""
    import jinja2

    template = dagbag.dags[dag_id].get_task(task_id).map_index_template
    task = type("Task", (), {"op_kwargs": op_kwargs})

    assert jinja2.Template(template).render(task=task) == shown


def test_parsing_opens_no_catalog(tmp_path, monkeypatch):
    """The dag-processor parses files every few seconds: no database work at top level."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", f"sqlite:///{tmp_path / 'never.db'}")
    DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)

    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("dag_id", sorted(d for d in EXPECTED_DAGS if d.startswith("tributary_")))
def test_tributary_dags_are_on_from_installation(dagbag, dag_id):
    """The CLI never unpauses a DAG (unpausing a scheduled one runs its latest interval at
    once, for real): Tributary's own DAGs are created unpaused, schedules included."""
    assert dagbag.dags[dag_id].is_paused_upon_creation is False


def test_upstream_sync_is_nightly_by_default_and_configurable(monkeypatch):
    from tests.dags.runner import load_dag

    assert load_dag("tributary_upstream_sync").timetable.expression == "0 2 * * *"
    monkeypatch.setenv("TRIBUTARY_UPSTREAM_SCHEDULE", "30 4 * * *")
    assert load_dag("tributary_upstream_sync").timetable.expression == "30 4 * * *"


def test_event_sync_watches_every_configured_queue(monkeypatch):
    from tests.dags.runner import load_dag

    assert not load_dag("tributary_event_sync").timetable.can_be_scheduled  # on demand only
    sources = [
        {"provider": "s3", "name": "cams", "queue": "https://sqs.example/1/q"},
        {"provider": "gcs", "name": "scans", "project": "p", "subscription": "s"},
        {"provider": "azure", "name": "archive", "queue": "events"},
    ]
    monkeypatch.setenv("TRIBUTARY_EVENT_SOURCES", json.dumps(sources))
    condition = load_dag("tributary_event_sync").timetable.asset_condition
    watchers = {a.name: type(a.watchers[0].trigger).__name__ for a in condition.objects}
    assert watchers == {
        "tributary_bucket_events_cams": "MessageQueueTrigger",
        "tributary_bucket_events_scans": "PubsubPullTrigger",
        "tributary_bucket_events_archive": "AzureStorageQueueTrigger",
    }


HEAVY = ("PIL", "av", "pillow_heif", "pandas", "boto3", "azure", "google.cloud")
# ``azure`` and ``google.cloud`` are namespace packages that site-packages' *-nspkg.pth files
# create, empty, at interpreter start: only a module inside them is an SDK import.
NAMESPACES = ("azure", "google.cloud")
PARSE_AND_LIST_MODULES = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
print(json.dumps({"errors": sorted(bag.import_errors), "dags": len(bag.dag_ids),
                  "modules": sorted(sys.modules)}))
"""


@pytest.mark.slow
def test_parsing_the_dags_folder_imports_no_heavy_library():
    """The dag-processor parses every file every few seconds, each time in a fresh process:
    Pillow, PyAV, pandas and the cloud SDKs belong inside tasks. (A fresh interpreter,
    because this test process has imported them all long ago.)"""
    result = subprocess.run(
        [sys.executable, "-c", PARSE_AND_LIST_MODULES, str(REPO / "dags")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "include"), str(REPO)])},
        capture_output=True,
        text=True,
        check=True,
    )
    parsed = json.loads(result.stdout.strip().splitlines()[-1])

    assert parsed["errors"] == [] and parsed["dags"] >= len(EXPECTED_DAGS)
    heavy = sorted(
        {
            h
            for m in parsed["modules"]
            for h in HEAVY
            if m.startswith(h + ".") or (m == h and h not in NAMESPACES)
        }
    )
    assert heavy == [], f"parsing dags/ imported {heavy}"

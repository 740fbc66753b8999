"""Folder templates get the run's dates and nothing else (issue 9, B9)."""

from __future__ import annotations

import datetime as dt

import pytest

from tributary.catalog import datasets
from tributary.errors import InvalidInput
from tributary.folder_templates import check, date_renderer
from tributary.sync.scope import prefix_for, static_root

DAY = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DATES = {
    "ds": "2026-10-01",
    "ds_nodash": "20261001",
    "logical_date": DAY,
    "data_interval_start": DAY,
    "data_interval_end": DAY + dt.timedelta(days=1),
}


@pytest.mark.parametrize(
    "folder",
    [
        pytest.param("{{ conn.my_s3.password }}/", id="connection"),
        pytest.param("{{ var.value.token }}/", id="variable"),
        pytest.param("{{ params.dataset }}/", id="param"),
        pytest.param("{{ ti.xcom_pull('x') }}/", id="task-instance"),
        pytest.param("{{ macros.datetime }}/", id="macros"),
        pytest.param("{% for c in conn %}{{ c }}{% endfor %}/", id="statement"),
        pytest.param("{{ ds.__class__.__mro__ }}/{{ conn }}", id="mixed"),
    ],
)
def test_anything_but_the_dates_is_refused_when_the_dataset_is_created(folder):
    with pytest.raises(InvalidInput, match="only the run's dates"):
        datasets.normalise_folder(folder)


def test_a_broken_template_is_refused_in_one_line():
    with pytest.raises(InvalidInput, match="not a valid template"):
        check("cam/{{ ds /")


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("cam/{{ ds }}/", "cam/2026-10-01/"),
        ("cam/{{ ds_nodash }}/", "cam/20261001/"),
        ("cam/{{ data_interval_start.strftime('%Y/%m') }}/", "cam/2026/10/"),
        ("cam/{{ ds | replace('-', '/') }}/", "cam/2026/10/01/"),
    ],
)
def test_date_templates_render_with_the_run_dates(folder, expected):
    datasets.normalise_folder(folder)
    assert prefix_for("", folder, date_renderer(DATES)) == expected


def test_rendering_never_sees_more_than_the_dates():
    # Even if a secret-bearing value sits in the context handed over, it is not reachable.
    render = date_renderer({**DATES, "conn": {"password": "s3cr3t"}})
    with pytest.raises(InvalidInput) as refused:
        render("{{ conn.password }}/")
    assert "s3cr3t" not in str(refused.value)


def test_the_sandbox_refuses_attribute_tricks():
    render = date_renderer(DATES)
    with pytest.raises(InvalidInput):
        render("{{ ds.__class__.__base__.__subclasses__() }}/")


def test_static_root_stops_at_any_template_mark():
    assert static_root("cam/{{ ds }}/") == "cam/"
    assert static_root("a/b/{% if ds %}x{% endif %}/") == "a/b/"

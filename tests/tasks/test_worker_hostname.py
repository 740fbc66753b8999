"""Which worker ran a task instance, when several share a machine."""

from __future__ import annotations

import socket

from tributary.tasks.worker_hostname import hostname


def test_a_named_worker_records_its_name(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_WORKER_HOSTNAME", "worker-lane.vm")
    assert hostname() == "worker-lane.vm"


def test_without_a_name_the_machine_name_as_airflow_records_it(monkeypatch):
    monkeypatch.delenv("TRIBUTARY_WORKER_HOSTNAME", raising=False)
    assert hostname() == socket.getfqdn()


def test_airflow_can_import_it_by_its_dotted_path(monkeypatch):
    from airflow.sdk.api.client import get_hostname

    callable_path = "tributary.tasks.worker_hostname.hostname"
    monkeypatch.setenv("AIRFLOW__CORE__HOSTNAME_CALLABLE", callable_path)
    monkeypatch.setenv("TRIBUTARY_WORKER_HOSTNAME", "worker-default.vm")
    assert get_hostname() == "worker-default.vm"
